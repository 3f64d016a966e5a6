#include "k8s/lease_record.h"

#include <jansson.h>

#include <cstdio>
#include <ctime>

#include "common/json.h"
#include "k8s/client_impl.h"
#include "k8s/json_load.h"

namespace swg::k8s {
namespace {

constexpr size_t kMaxLeaseTreeBytes = 1u << 20;  // a Lease is a few hundred bytes

Error WrongType(const char* field, const json_t* v, const char* want) {
  return Error{std::string(field) + " is a JSON " + std::string(JsonTypeName(v)) + ", not " + want};
}

// An optional string member ("" when absent or null).
Status ReadString(const json_t* obj, const char* key, const char* field, std::string& out) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return Ok();
  if (!json_is_string(v)) return WrongType(field, v, "a string");
  out.assign(json_string_value(v), json_string_length(v));
  return Ok();
}

Status ReadInteger(const json_t* obj, const char* key, const char* field, int64_t& out) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return Ok();
  if (!json_is_integer(v)) return WrongType(field, v, "an integer");
  out = json_integer_value(v);
  return Ok();
}

void SetSpec(json_t* spec, const LeaseSpec& s) {
  json_object_set_new(spec, "holderIdentity",
                      json_stringn(s.holder_identity.data(), s.holder_identity.size()));
  json_object_set_new(spec, "leaseDurationSeconds", json_integer(s.lease_duration_seconds));
  json_object_set_new(spec, "acquireTime", json_stringn(s.acquire_time.data(), s.acquire_time.size()));
  json_object_set_new(spec, "renewTime", json_stringn(s.renew_time.data(), s.renew_time.size()));
  json_object_set_new(spec, "leaseTransitions", json_integer(s.lease_transitions));
}

}  // namespace

std::string LeasesPath(std::string_view namespace_name) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + UrlEscape(namespace_name) + "/leases";
}

std::string LeasePath(std::string_view namespace_name, std::string_view name) {
  return LeasesPath(namespace_name) + "/" + UrlEscape(name);
}

Result<LeaseObject> ParseLease(std::string_view json) {
  Result<JsonPtr> root = LoadJson(json, 0, kMaxLeaseTreeBytes);
  if (!root.ok()) return std::move(root).error();
  const json_t* object = root->get();
  if (!json_is_object(object)) return WrongType("the Lease", object, "an object");
  LeaseObject out;
  const json_t* metadata = json_object_get(object, "metadata");
  if (metadata && !json_is_object(metadata)) return WrongType("metadata", metadata, "an object");
  Status s = ReadString(metadata, "resourceVersion", "metadata.resourceVersion", out.resource_version);
  if (!s.ok()) return std::move(s).error();
  const json_t* spec = json_object_get(object, "spec");
  if (spec && !json_is_null(spec)) {
    if (!json_is_object(spec)) return WrongType("spec", spec, "an object");
    LeaseSpec& o = out.spec;
    for (Status r :
         {ReadString(spec, "holderIdentity", "spec.holderIdentity", o.holder_identity),
          ReadInteger(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds", o.lease_duration_seconds),
          ReadString(spec, "acquireTime", "spec.acquireTime", o.acquire_time),
          ReadString(spec, "renewTime", "spec.renewTime", o.renew_time),
          ReadInteger(spec, "leaseTransitions", "spec.leaseTransitions", o.lease_transitions)}) {
      if (!r.ok()) return std::move(r).error();
    }
  }
  out.json = std::string(json);
  return out;
}

std::string NewLeaseJson(std::string_view namespace_name, std::string_view name, const LeaseSpec& spec) {
  JsonPtr root(json_object());
  json_object_set_new(root.get(), "apiVersion", json_string("coordination.k8s.io/v1"));
  json_object_set_new(root.get(), "kind", json_string("Lease"));
  json_t* metadata = json_object();
  json_object_set_new(metadata, "name", json_stringn(name.data(), name.size()));
  json_object_set_new(metadata, "namespace", json_stringn(namespace_name.data(), namespace_name.size()));
  json_object_set_new(root.get(), "metadata", metadata);
  json_t* s = json_object();
  SetSpec(s, spec);
  json_object_set_new(root.get(), "spec", s);
  return JsonDump(root.get());
}

Result<std::string> UpdatedLeaseJson(std::string_view object, const LeaseSpec& spec) {
  Result<JsonPtr> root = LoadJson(object, 0, kMaxLeaseTreeBytes);
  if (!root.ok()) return std::move(root).error();
  if (!json_is_object(root->get())) return WrongType("the Lease", root->get(), "an object");
  json_t* s = json_object_get(root->get(), "spec");
  if (!json_is_object(s)) {
    s = json_object();
    json_object_set_new(root->get(), "spec", s);  // replaces an absent or null spec
  }
  SetSpec(s, spec);
  return JsonDump(root->get());
}

std::string FormatMicroTime(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<time_t>(us / 1000000);
  auto frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, frac);
  return buf;
}

void LeaseTracker::Observe(const LeaseSpec& spec, Clock::time_point now) {
  if (observed_ && spec == spec_) return;
  observed_ = true;
  spec_ = spec;
  changed_at_ = now;
}

bool LeaseTracker::Held(Clock::time_point now) const {
  return observed_ && !spec_.holder_identity.empty() &&
         now < changed_at_ + std::chrono::seconds(spec_.lease_duration_seconds);
}

std::optional<LeaseSpec> LeaseTracker::Claim(const std::string& identity, int64_t duration_seconds,
                                             const std::string& wall, Clock::time_point now) const {
  LeaseSpec out{identity, duration_seconds, wall, wall, 0};
  if (!observed_) return out;
  if (spec_.holder_identity == identity) {
    if (!spec_.acquire_time.empty()) out.acquire_time = spec_.acquire_time;
    out.lease_transitions = spec_.lease_transitions;
    return out;
  }
  if (Held(now)) return std::nullopt;
  out.lease_transitions = spec_.lease_transitions + 1;
  return out;
}

LeaseSpec LeaseTracker::Release(const std::string& wall) const {
  return LeaseSpec{"", 1, wall, wall, spec_.lease_transitions};
}

}  // namespace swg::k8s
