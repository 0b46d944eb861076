#include "cli/wait.h"

#include "absl/strings/str_cat.h"

namespace berth::cli {
namespace {

using nlohmann::json;

class Progress {
 public:
  Progress(const WaitSpec& spec, const WaitEnv& env) : spec_(spec), env_(env) {}

  void Show(const std::string& state, std::chrono::seconds elapsed) {
    if (env_.progress == nullptr) return;
    std::string line = absl::StrCat(spec_.action, " ", spec_.kind, " ", spec_.name, ": ", state);
    if (env_.live) {
      std::string text = absl::StrCat(line, " (", elapsed.count(), " s)");
      if (text == last_text_) return;
      *env_.progress << "\r" << text << "\x1b[K" << std::flush;
      last_text_ = std::move(text);
      open_ = true;
    } else if (state != last_state_) {
      *env_.progress << line << " (" << elapsed.count() << " s)\n" << std::flush;
    }
    last_state_ = state;
  }

  // Ends the live line so that what follows starts on its own line.
  void Finish() {
    if (open_ && env_.progress != nullptr) *env_.progress << "\n" << std::flush;
    open_ = false;
  }

 private:
  const WaitSpec& spec_;
  const WaitEnv& env_;
  std::string last_text_;
  std::string last_state_;
  bool open_ = false;
};

std::string StateOf(const json& resource) {
  if (resource.is_object()) {
    auto it = resource.find("provisioning_state");
    if (it != resource.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

}  // namespace

absl::StatusOr<json> WaitForResource(const PollFn& poll, const WaitSpec& spec, const WaitEnv& env) {
  const SteadyTime start = env.clock->Now();
  Progress progress(spec, env);
  std::string state = "waiting";
  absl::Status last_error;
  for (;;) {
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(env.clock->Now() - start);
    absl::StatusOr<json> resource = poll();
    if (resource.ok()) {
      last_error = absl::OkStatus();
      state = StateOf(*resource);
      if (state.empty()) state = "unknown";
      if (state == "Succeeded" && !spec.until_gone) {
        progress.Show(state, elapsed);
        progress.Finish();
        return resource;
      }
      if (state == "Failed") {
        progress.Show(state, elapsed);
        progress.Finish();
        std::string reason = resource->is_object() ? resource->value("reason", "") : "";
        return absl::FailedPreconditionError(absl::StrCat(
            spec.kind, " ", spec.name, " failed", reason.empty() ? std::string() : ": " + reason));
      }
      progress.Show(state, elapsed);
    } else if (resource.status().code() == absl::StatusCode::kNotFound && spec.until_gone) {
      progress.Show("deleted", elapsed);
      progress.Finish();
      return json();
    } else if (resource.status().code() == absl::StatusCode::kUnavailable) {
      last_error = resource.status();
      progress.Show("server unreachable, retrying", elapsed);
    } else {
      progress.Finish();
      if (resource.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(absl::StrCat(spec.kind, " ", spec.name, " disappeared while ",
                                                state, ": ", resource.status().message()));
      }
      return resource.status();
    }
    if (env.clock->Now() - start >= spec.timeout) {
      progress.Finish();
      std::string message =
          absl::StrCat("timed out after ", spec.timeout.count(), " s waiting for ", spec.kind, " ",
                       spec.name, " (last state: ", state, ")");
      if (!last_error.ok()) absl::StrAppend(&message, "; last error: ", last_error.message());
      absl::StrAppend(&message, ". The operation goes on in berthd");
      if (!spec.show_command.empty()) {
        absl::StrAppend(&message, "; follow it with `", spec.show_command, "`");
      }
      return absl::DeadlineExceededError(message);
    }
    env.sleep(env.interval);
  }
}

}  // namespace berth::cli
