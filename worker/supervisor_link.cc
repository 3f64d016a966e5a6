#include "worker/supervisor_link.h"

#include <fcntl.h>

#include "common/json.h"
#include "common/log.h"

namespace swg::worker {

SupervisorLink::SupervisorLink(Loop& loop, int fd, Handlers handlers)
    : handlers_(std::move(handlers)), heartbeat_(loop) {
  // The supervisor hands the channel over without close-on-exec (it must survive the worker's exec); from here
  // on it is the worker's own, and no program the worker starts (exec credential plugins) may inherit it.
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  channel_ = std::make_unique<Channel>(
      loop, fd, [this](std::string_view m) { OnMessage(m); },
      [this](const std::string& why) {
        heartbeat_.Stop();
        if (handlers_.on_lost) handlers_.on_lost("supervisor connection " + why);
      });
  heartbeat_.StartRepeating(std::chrono::milliseconds(1000), [this] { SendStatus(); });
}

void SupervisorLink::SendStatus() {
  if (!started_ || !handlers_.status) return;
  WorkerStatus now = handlers_.status();
  if (last_sent_ && *last_sent_ == now) {
    channel_->Send(std::string(kAliveMessage));
    return;
  }
  channel_->Send("{\"type\":\"status\",\"status\":" + StatusToJson(now) + "}");
  last_sent_ = std::move(now);
}

void SupervisorLink::OnMessage(std::string_view message) {
  json_error_t err;
  JsonPtr msg(json_loadb(message.data(), message.size(), 0, &err));
  auto type = msg ? JsonString(msg.get(), "type") : std::nullopt;
  if (!type) {
    log::Warn("ignoring a malformed message from the supervisor");
    return;
  }
  if (*type == "start") {
    if (started_) return;
    ConfigParse parsed = ParseConfig(JsonDump(json_object_get(msg.get(), "config")));
    if (!parsed.errors.empty() || parsed.config.remotes.size() != 1) {
      std::string why = parsed.errors.empty() ? "start message without exactly one remote" : parsed.errors[0];
      if (handlers_.on_lost) handlers_.on_lost("bad start message: " + why);
      return;
    }
    started_ = true;
    // The interval the supervisor expects (1 s from a supervisor that does not say).
    json_t* hb = json_object_get(msg.get(), "heartbeat_ms");
    if (json_is_integer(hb) && json_integer_value(hb) >= 100 && json_integer_value(hb) <= 60000) {
      heartbeat_.StartRepeating(std::chrono::milliseconds(json_integer_value(hb)), [this] { SendStatus(); });
    }
    if (handlers_.on_start) handlers_.on_start(std::move(parsed.config));
    SendStatus();
    return;
  }
  json_t* id_json = json_object_get(msg.get(), "id");
  if (!json_is_integer(id_json)) return;
  std::string id = std::to_string(json_integer_value(id_json));
  if (*type == "summary_request") {
    auto& get = handlers_.summary ? handlers_.summary : handlers_.status;
    if (get) channel_->Send("{\"type\":\"detail\",\"id\":" + id + ",\"status\":" + StatusToJson(get()) + "}");
  } else if (*type == "detail_request" && handlers_.detail) {
    handlers_.detail([this, id](const WorkerStatus& s) {
      channel_->Send("{\"type\":\"detail\",\"id\":" + id + ",\"status\":" + StatusToJson(s) + "}");
    });
  } else if (*type == "rotate_key_request" && handlers_.rotate_key) {
    channel_->Send("{\"type\":\"rotate_key\",\"id\":" + id + ",\"result\":" + handlers_.rotate_key() + "}");
  } else if (*type == "metrics_request" && handlers_.metrics) {
    handlers_.metrics([this, id](const std::vector<metrics::Family>& f) {
      channel_->Send("{\"type\":\"metrics\",\"id\":" + id + ",\"families\":" + metrics::ToJson(f) + "}");
    });
  }
}

}  // namespace swg::worker
