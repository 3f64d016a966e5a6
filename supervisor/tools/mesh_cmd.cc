// `semaphore-wireguard mesh`: one LIST of Nodes per kubeconfig context, then supervisor/mesh.h's analysis.

#include <cstdio>
#include <memory>

#include "common/config.h"
#include "common/flags.h"
#include "common/loop.h"
#include "common/strings.h"
#include "k8s/client.h"
#include "k8s/kubeconfig.h"
#include "supervisor/commands.h"
#include "supervisor/tools/tools.h"
#include "supervisor/tools/mesh.h"

namespace swg {
namespace {

constexpr const char* kCommand = "semaphore-wireguard mesh";
// Bounds of one cluster's list, as the worker's (k8s/informer.h): pages, nodes, the whole list's time.
constexpr int64_t kPageSize = 500;
constexpr int kMaxPages = 1000;
constexpr size_t kMaxNodes = 50000;
constexpr size_t kMaxBytes = 64u << 20;  // what the nodes kept may take (ApproxBytes), per cluster
constexpr std::chrono::seconds kListTimeout{60};

int Usage(const std::string& message) {
  std::fprintf(stderr, "%s: %s (see -h)\n", kCommand, message.c_str());
  return kExitUsage;
}

// Keeps only our annotations: the rest of a Node is not needed and would make 5,000 nodes heavy.
void Trim(k8s::NodeInfo& node) {
  for (auto it = node.annotations.begin(); it != node.annotations.end();) {
    it = it->first.find(std::string(kAnnotationDomain) + "/") == std::string::npos ? node.annotations.erase(it)
                                                                                     : std::next(it);
  }
  node.addresses.clear();
  node.pod_cidrs.clear();
}

// Lists one cluster's Nodes page by page within the bounds; `done` is set when finished (or failed).
struct Lister {
  k8s::Client* client = nullptr;
  mesh::ClusterInput* out = nullptr;
  std::chrono::steady_clock::time_point deadline;
  int pages = 0;
  size_t bytes = 0;
  bool done = false;

  void Page(const std::string& continue_token) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Fail("the list is not complete after " + std::to_string(kListTimeout.count()) + "s");
    if (++pages > kMaxPages) return Fail("more than " + std::to_string(kMaxPages) + " pages");
    k8s::ListOptions opts;
    opts.limit = kPageSize;
    opts.continue_token = continue_token;
    opts.timeout = left;
    k8s::AnnotationFilter filter = k8s::AnnotationFilter::All();
    filter.condition_prefix = "WireGuard";
    client->ListNodes(
        opts, filter,
        [this](k8s::NodeInfo node) -> Status {
          if (out->nodes.size() >= kMaxNodes)
            return Error{"more than " + std::to_string(kMaxNodes) + " nodes", k8s::kErrorOverLimit};
          Trim(node);
          bytes += k8s::ApproxBytes(node);
          if (bytes > kMaxBytes) return Error{"the nodes take more than 64 MiB", k8s::kErrorOverLimit};
          out->nodes.push_back(std::move(node));
          return Ok();
        },
        [this](Result<k8s::NodeListPage> page) {
          if (!page.ok()) return Fail(page.error().message);
          if (!page->continue_token.empty()) return Page(page->continue_token);
          done = true;
        });
  }
  void Fail(const std::string& message) {
    out->error = message;
    out->nodes.clear();
    done = true;
  }
};

}  // namespace

int RunMesh(const std::vector<std::string>& args, const GetEnv& getenv) {
  // --context repeats, which FlagSet does not do: taken out first (until "--").
  std::vector<std::string> contexts, rest_args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      rest_args.insert(rest_args.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (a == "-context" || a == "--context") {
      if (i + 1 >= args.size()) return Usage("flag needs an argument: " + a);
      contexts.push_back(args[++i]);
    } else if (StartsWith(a, "-context=") || StartsWith(a, "--context=")) {
      contexts.push_back(a.substr(a.find('=') + 1));
    } else {
      rest_args.push_back(a);
    }
  }
  FlagSet fs(kCommand);
  fs.String("kubeconfig", "KUBECONFIG", "", "The kubeconfig file (default $KUBECONFIG, then ~/.kube/config)");
  fs.String("o", "", "table", "Output: table, json or dot (Graphviz)");
  auto rest = fs.Parse(rest_args, getenv);
  if (!rest.ok()) {
    if (rest.error().code == 0) {
      std::printf(
          "Usage: %s [--context NAME]... [--kubeconfig PATH] [-o table|json|dot]\n"
          "  Reads the Nodes of every cluster (each --context, or every context of the kubeconfig) and\n"
          "  shows the mesh: exit 0 when healthy, 1 when something is wrong, 2 on a usage error.\n"
          "  -context NAME\n    \tA kubeconfig context, one per cluster (repeat it)\n%s",
          kCommand, fs.Usage().c_str());
      return kExitOk;
    }
    return Usage(rest.error().message);
  }
  if (!rest->empty()) return Usage("unexpected argument " + Quote((*rest)[0]));
  const std::string& output = fs.Get("o");
  if (output != "table" && output != "json" && output != "dot")
    return Usage("invalid value " + Quote(output) + " for -o: use table, json or dot");
  std::string path = fs.Get("kubeconfig");
  if (path.find(':') != std::string::npos) {
    return Usage("invalid value " + Quote(path) +
                 " for -kubeconfig: one file (a list of files is not supported)");
  }
  if (path.empty()) {
    const char* home = getenv("HOME");
    if (!home || !*home) return Usage("no -kubeconfig, $KUBECONFIG nor $HOME");
    path = std::string(home) + "/.kube/config";
  }
  if (contexts.empty()) {
    auto all = k8s::LoadKubeconfigContexts(path);
    if (!all.ok()) return Usage(all.error().message);
    if (all->empty()) return Usage("kubeconfig " + path + " has no contexts");
    contexts = *all;
  }
  for (size_t i = 0; i < contexts.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (contexts[i] == contexts[j]) return Usage("context " + Quote(contexts[i]) + " given twice");
    }
    // A context that is missing or unusable is the caller's mistake, named before anything is read.
    auto config = k8s::LoadKubeconfig(path, contexts[i]);
    if (!config.ok())
      return Usage("invalid value " + Quote(contexts[i]) + " for -context: " + config.error().message);
  }

  Loop loop;
  std::vector<mesh::ClusterInput> inputs(contexts.size());
  std::vector<std::unique_ptr<k8s::Client>> clients;
  std::vector<std::unique_ptr<Lister>> listers;
  auto deadline = std::chrono::steady_clock::now() + kListTimeout;
  for (size_t i = 0; i < contexts.size(); ++i) {
    inputs[i].context = contexts[i];
    k8s::ClusterSource source = k8s::ClusterSource::Kubeconfig(path);
    source.context = contexts[i];
    k8s::ClientOptions options;
    options.request_timeout = std::chrono::milliseconds(kListTimeout);
    options.max_retries = 1;
    auto client = k8s::Client::Create(loop, contexts[i], source, options);
    auto lister = std::make_unique<Lister>();
    lister->out = &inputs[i];
    lister->deadline = deadline;
    if (!client.ok()) {
      lister->Fail(client.error().message);
    } else {
      lister->client = client->get();
      clients.push_back(std::move(*client));
      lister->Page("");
    }
    listers.push_back(std::move(lister));
  }
  auto all_done = [&] {
    for (const auto& l : listers) {
      if (!l->done) return false;
    }
    return true;
  };
  // Every request has a timeout within the deadline; this only bounds a hang.
  loop.RunUntil(all_done, kListTimeout + std::chrono::seconds(5));
  for (auto& l : listers) {
    if (!l->done) l->Fail("no answer within " + std::to_string(kListTimeout.count()) + "s");
  }
  clients.clear();

  mesh::MeshView view = mesh::Analyze(inputs);
  std::string text = output == "json"  ? mesh::FormatJson(view)
                     : output == "dot" ? mesh::FormatDot(view)
                                       : mesh::FormatTable(view);
  std::fputs(text.c_str(), stdout);
  return view.Healthy() ? kExitOk : kExitFailure;
}

}  // namespace swg
