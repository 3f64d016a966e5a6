#include "k8s/kubeconfig.h"

#include "common/base64.h"
#include "common/files.h"
#include "common/strings.h"
#include "k8s/yaml.h"

namespace swg::k8s {
namespace {

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  Error Fail(const YamlNode* at, const std::string& what) const {
    std::string where = at ? " (line " + std::to_string(at->line) + ")" : "";
    return Error{"kubeconfig " + path_ + where + ": " + what};
  }

  // A string field; absent or null gives "".
  Result<std::string> String(const YamlNode& parent, std::string_view key, const std::string& field) const {
    const YamlNode* v = parent.Get(key);
    if (!v || v->IsNull()) return std::string();
    if (v->kind != YamlNode::Kind::kScalar) return Fail(v, field + ": expected a string");
    return v->scalar;
  }

  Result<bool> Bool(const YamlNode& parent, std::string_view key, const std::string& field) const {
    const YamlNode* v = parent.Get(key);
    if (!v || v->IsNull()) return false;
    if (v->kind == YamlNode::Kind::kScalar &&
        (v->scalar == "true" || v->scalar == "True" || v->scalar == "TRUE")) {
      return true;
    }
    if (v->kind == YamlNode::Kind::kScalar &&
        (v->scalar == "false" || v->scalar == "False" || v->scalar == "FALSE")) {
      return false;
    }
    return Fail(v, field + ": expected true or false");
  }

  // The `field` object of the entry called `name` in the list `list` (clusters, users, contexts).
  Result<const YamlNode*> Named(const YamlNode& root, std::string_view list, std::string_view field,
                                const std::string& name) const {
    const YamlNode* items = root.Get(list);
    if (items && !items->IsNull() && items->kind != YamlNode::Kind::kSequence) {
      return Fail(items, std::string(list) + ": expected a list");
    }
    if (items && items->kind == YamlNode::Kind::kSequence) {
      for (const YamlNode& item : items->items) {
        if (item.kind != YamlNode::Kind::kMapping)
          return Fail(&item, std::string(list) + ": entries must be objects");
        const YamlNode* n = item.Get("name");
        if (!n || n->kind != YamlNode::Kind::kScalar || n->scalar != name) continue;
        const YamlNode* value = item.Get(field);
        if (!value || value->IsNull()) return static_cast<const YamlNode*>(nullptr);
        if (value->kind != YamlNode::Kind::kMapping) {
          return Fail(value, std::string(list) + "[" + Quote(name) + "]." + std::string(field) +
                                 ": expected an object");
        }
        return value;
      }
    }
    return Fail(nullptr, std::string(list) + ": no entry named " + Quote(name));
  }

  std::string Resolve(const std::string& dir, const std::string& file) const {
    if (file.empty() || file[0] == '/' || dir.empty()) return file;
    return dir + "/" + file;
  }

  Result<std::string> Data(const YamlNode& parent, std::string_view key, const std::string& field) const {
    Result<std::string> text = String(parent, key, field);
    if (!text.ok() || text->empty()) return text;
    std::optional<std::string> decoded = Base64Decode(*text);
    if (!decoded) return Fail(parent.Get(key), field + ": not valid base64");
    return *decoded;
  }

 private:
  std::string path_;
};

Status ReadExec(const Reader& r, const YamlNode& exec, const std::string& dir, Kubeconfig& out) {
  ExecConfig e;
  auto command = r.String(exec, "command", "exec.command");
  if (!command.ok()) return command.error();
  if (command->empty()) return r.Fail(&exec, "exec.command is missing");
  // A relative command with a slash is relative to the kubeconfig (client-go); a bare name is looked up in
  // PATH.
  e.command = command->find('/') != std::string::npos ? r.Resolve(dir, *command) : *command;
  auto api = r.String(exec, "apiVersion", "exec.apiVersion");
  if (!api.ok()) return api.error();
  if (*api != "client.authentication.k8s.io/v1" && *api != "client.authentication.k8s.io/v1beta1") {
    return r.Fail(&exec, "exec.apiVersion " + Quote(*api) +
                             " is not supported (client.authentication.k8s.io/v1 or v1beta1)");
  }
  e.api_version = *api;
  if (const YamlNode* args = exec.Get("args"); args && !args->IsNull()) {
    if (args->kind != YamlNode::Kind::kSequence) return r.Fail(args, "exec.args: expected a list");
    for (const YamlNode& a : args->items) {
      if (a.kind != YamlNode::Kind::kScalar) return r.Fail(&a, "exec.args: expected strings");
      e.args.push_back(a.scalar);
    }
  }
  if (const YamlNode* env = exec.Get("env"); env && !env->IsNull()) {
    if (env->kind != YamlNode::Kind::kSequence) return r.Fail(env, "exec.env: expected a list");
    for (const YamlNode& item : env->items) {
      if (item.kind != YamlNode::Kind::kMapping)
        return r.Fail(&item, "exec.env: expected {name, value} objects");
      auto name = r.String(item, "name", "exec.env.name");
      auto value = r.String(item, "value", "exec.env.value");
      if (!name.ok()) return name.error();
      if (!value.ok()) return value.error();
      if (name->empty()) return r.Fail(&item, "exec.env: name is missing");
      e.env.emplace_back(*name, *value);
    }
  }
  auto info = r.Bool(exec, "provideClusterInfo", "exec.provideClusterInfo");
  if (!info.ok()) return info.error();
  e.provide_cluster_info = *info;
  auto hint = r.String(exec, "installHint", "exec.installHint");
  if (!hint.ok()) return hint.error();
  e.install_hint = *hint;
  out.exec = std::move(e);
  return Ok();
}

Status ReadUser(const Reader& r, const YamlNode& user, const std::string& dir, Kubeconfig& out) {
  for (const char* unsupported : {"auth-provider", "username", "password"}) {
    if (const YamlNode* v = user.Get(unsupported); v && !v->IsNull()) {
      return r.Fail(v,
                    std::string("users[].user.") + unsupported + " is not supported (use a token or exec)");
    }
  }
  struct Field {
    const char* key;
    std::string* target;
    bool path;
    bool data;
  };
  Field fields[] = {{"token", &out.token, false, false},
                    {"tokenFile", &out.token_file, true, false},
                    {"client-certificate", &out.cert_file, true, false},
                    {"client-certificate-data", &out.cert_pem, false, true},
                    {"client-key", &out.key_file, true, false},
                    {"client-key-data", &out.key_pem, false, true}};
  for (const Field& f : fields) {
    std::string name = std::string("users[].user.") + f.key;
    Result<std::string> v = f.data ? r.Data(user, f.key, name) : r.String(user, f.key, name);
    if (!v.ok()) return v.error();
    *f.target = f.path ? r.Resolve(dir, *v) : *v;
  }
  if (const YamlNode* exec = user.Get("exec"); exec && !exec->IsNull()) {
    if (exec->kind != YamlNode::Kind::kMapping) return r.Fail(exec, "users[].user.exec: expected an object");
    if (Status s = ReadExec(r, *exec, dir, out); !s.ok()) return s;
  }
  bool has_cert = !out.cert_file.empty() || !out.cert_pem.empty();
  bool has_key = !out.key_file.empty() || !out.key_pem.empty();
  if (has_cert != has_key)
    return r.Fail(&user, "a client certificate needs both the certificate and the key");
  return Ok();
}

}  // namespace

Result<Kubeconfig> ParseKubeconfig(std::string_view text, const std::string& path, const std::string& dir,
                                   const std::string& context) {
  Reader r(path);
  Result<YamlNode> doc = ParseYaml(text);
  if (!doc.ok()) return r.Fail(nullptr, doc.error().message);
  const YamlNode& root = *doc;
  if (root.kind != YamlNode::Kind::kMapping) return r.Fail(&root, "expected a mapping at the top");

  Kubeconfig out;
  out.path = path;
  out.context = context;
  if (out.context.empty()) {
    auto current = r.String(root, "current-context", "current-context");
    if (!current.ok()) return current.error();
    if (current->empty()) return r.Fail(nullptr, "current-context is not set");
    out.context = *current;
  }
  auto ctx = r.Named(root, "contexts", "context", out.context);
  if (!ctx.ok()) return ctx.error();
  if (!*ctx) return r.Fail(nullptr, "context " + Quote(out.context) + " is empty");
  auto cluster_name = r.String(**ctx, "cluster", "contexts[].context.cluster");
  auto user_name = r.String(**ctx, "user", "contexts[].context.user");
  if (!cluster_name.ok()) return cluster_name.error();
  if (!user_name.ok()) return user_name.error();
  if (cluster_name->empty()) return r.Fail(*ctx, "context " + Quote(out.context) + " names no cluster");

  auto cluster = r.Named(root, "clusters", "cluster", *cluster_name);
  if (!cluster.ok()) return cluster.error();
  if (!*cluster) return r.Fail(nullptr, "cluster " + Quote(*cluster_name) + " is empty");
  auto server = r.String(**cluster, "server", "clusters[].cluster.server");
  if (!server.ok()) return server.error();
  if (server->empty()) return r.Fail(*cluster, "cluster " + Quote(*cluster_name) + " has no server");
  if (!StartsWith(*server, "https://") && !StartsWith(*server, "http://")) {
    return r.Fail(*cluster, "server " + Quote(*server) + " is not an http(s) URL");
  }
  out.server = *server;
  auto ca_file = r.String(**cluster, "certificate-authority", "clusters[].cluster.certificate-authority");
  auto ca_data =
      r.Data(**cluster, "certificate-authority-data", "clusters[].cluster.certificate-authority-data");
  auto insecure =
      r.Bool(**cluster, "insecure-skip-tls-verify", "clusters[].cluster.insecure-skip-tls-verify");
  auto server_name = r.String(**cluster, "tls-server-name", "clusters[].cluster.tls-server-name");
  if (!ca_file.ok()) return ca_file.error();
  if (!ca_data.ok()) return ca_data.error();
  if (!insecure.ok()) return insecure.error();
  if (!server_name.ok()) return server_name.error();
  out.ca_file = r.Resolve(dir, *ca_file);
  out.ca_pem = *ca_data;
  out.insecure_skip_tls_verify = *insecure;
  out.tls_server_name = *server_name;

  if (!user_name->empty()) {
    auto user = r.Named(root, "users", "user", *user_name);
    if (!user.ok()) return user.error();
    if (*user) {
      if (Status s = ReadUser(r, **user, dir, out); !s.ok()) return std::move(s).error();
    }
  }
  return out;
}

Result<Kubeconfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  Result<std::string> text = ReadFile(path, 4u << 20);
  if (!text.ok()) return Error{"kubeconfig: " + text.error().message};
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  return ParseKubeconfig(*text, path, dir, context);
}

Result<std::vector<std::string>> ParseKubeconfigContexts(std::string_view text, const std::string& path) {
  Reader r(path);
  Result<YamlNode> doc = ParseYaml(text);
  if (!doc.ok()) return r.Fail(nullptr, doc.error().message);
  if (doc->kind != YamlNode::Kind::kMapping) return r.Fail(&*doc, "expected a mapping at the top");
  std::vector<std::string> names;
  const YamlNode* items = doc->Get("contexts");
  if (!items || items->IsNull()) return names;
  if (items->kind != YamlNode::Kind::kSequence) return r.Fail(items, "contexts: expected a list");
  for (const YamlNode& item : items->items) {
    const YamlNode* n = item.kind == YamlNode::Kind::kMapping ? item.Get("name") : nullptr;
    if (!n || n->kind != YamlNode::Kind::kScalar || n->scalar.empty())
      return r.Fail(&item, "contexts: every entry needs a name");
    names.push_back(n->scalar);
  }
  return names;
}

Result<std::vector<std::string>> LoadKubeconfigContexts(const std::string& path) {
  Result<std::string> text = ReadFile(path, 4u << 20);
  if (!text.ok()) return Error{"kubeconfig: " + text.error().message};
  return ParseKubeconfigContexts(*text, path);
}

}  // namespace swg::k8s
