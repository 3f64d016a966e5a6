#pragma once
// A Node's annotations as the agent keeps them: the few the caller asked for (NodeFilter), sorted by key in one
// vector. A std::map took a tree node of its own per annotation: with two or three per node, about 0.5 MB more
// at 5,000 cached nodes. The interface is std::map's, for what the code uses of it; unlike std::map, inserting
// or erasing moves the other entries (iterators and references into it do not survive a change).

#include <algorithm>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swg::k8s {

class Annotations {
 public:
  using value_type = std::pair<std::string, std::string>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  Annotations() = default;
  Annotations(std::initializer_list<value_type> items) {
    for (const auto& [key, value] : items) insert_or_assign(key, value);
  }
  Annotations(const std::map<std::string, std::string>& items)  // NOLINT(google-explicit-constructor)
      : items_(items.begin(), items.end()) {}

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

  iterator find(std::string_view key) { return Find(items_, key); }
  const_iterator find(std::string_view key) const { return Find(items_, key); }
  size_t count(std::string_view key) const { return find(key) == end() ? 0 : 1; }
  bool contains(std::string_view key) const { return find(key) != end(); }
  const std::string& at(std::string_view key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("no annotation " + std::string(key));
    return it->second;
  }

  // Like std::map: emplace keeps an existing value, insert_or_assign replaces it, [] inserts "" when missing.
  template <typename K, typename V>
  std::pair<iterator, bool> emplace(K&& key, V&& value) {
    auto it = LowerBound(items_, key);
    if (it != items_.end() && std::string_view(it->first) == std::string_view(key)) return {it, false};
    return {items_.emplace(it, std::string(std::forward<K>(key)), std::string(std::forward<V>(value))), true};
  }
  template <typename K, typename V>
  std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
    auto [it, added] = emplace(std::forward<K>(key), std::string());
    it->second = std::string(std::forward<V>(value));
    return {it, added};
  }
  std::string& operator[](std::string_view key) { return emplace(key, std::string()).first->second; }

  iterator erase(const_iterator it) { return items_.erase(it); }
  size_t erase(std::string_view key) {
    auto it = find(key);
    if (it == end()) return 0;
    items_.erase(it);
    return 1;
  }
  template <typename Pred>
  size_t erase_if(Pred pred) {
    return std::erase_if(items_, pred);
  }

  bool operator==(const Annotations&) const = default;

 private:
  template <typename Items>  // std::vector<value_type>, const or not
  static auto LowerBound(Items& items, std::string_view key) -> decltype(items.begin()) {
    return std::lower_bound(items.begin(), items.end(), key, [](const value_type& item, std::string_view k) {
      return std::string_view(item.first) < k;  // as views: clang's rewritten <=> of string and view fails
    });
  }
  template <typename Items>
  static auto Find(Items& items, std::string_view key) -> decltype(items.begin()) {
    auto it = LowerBound(items, key);
    return it != items.end() && std::string_view(it->first) == key ? it : items.end();
  }
  std::vector<value_type> items_;
};

}  // namespace swg::k8s
