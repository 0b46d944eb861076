#include "cli/local_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kEndpointFile[] = "endpoint.json";
constexpr char kDeploymentFile[] = "deployment.json";
constexpr char kLockFile[] = ".lock";

std::string Env(const EnvLookup& env, const char* name) {
  std::optional<std::string> value = env(name);
  return value ? *value : "";
}

// Typed reads from a record; a wrong type is a damaged record.
absl::Status Damaged(const std::string& what) {
  return absl::DataLossError(absl::StrCat("damaged local state record: ", what));
}

absl::Status ReadString(const json& doc, const char* key, std::string* out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return Damaged(absl::StrCat("'", key, "' is not a string"));
  *out = it->get<std::string>();
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadInteger(const json& doc, const char* key, T* out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer()) return Damaged(absl::StrCat("'", key, "' is not an integer"));
  *out = it->get<T>();
  return absl::OkStatus();
}

absl::Status ReadStrings(const json& doc, const char* key, std::vector<std::string>* out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Damaged(absl::StrCat("'", key, "' is not a list"));
  for (const json& item : *it) {
    if (!item.is_string()) return Damaged(absl::StrCat("'", key, "' holds a non-string"));
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadSpec(const json& doc, json* out) {
  auto it = doc.find("spec");
  if (it == doc.end() || !it->is_object()) return Damaged("'spec' is missing");
  *out = *it;
  return absl::OkStatus();
}

absl::StatusOr<json> ReadJsonFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(file.string(), ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::DataLossError(absl::StrCat(file.string(), ": not a JSON object"));
  }
  return doc;
}

// Writes `<file>.tmp-<pid>` and renames it over `file`.
absl::Status WriteJsonFile(const fs::path& file, const json& doc) {
  fs::path tmp = file;
  tmp += absl::StrCat(".tmp-", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) {
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp.string()));
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::UnavailableError(absl::StrCat("cannot write ", file.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool IsSkipped(const fs::path& name) { return name == "__pycache__" || name == ".git"; }

absl::Status CopyEntry(const fs::path& source, const fs::path& target) {
  std::error_code ec;
  fs::file_status status = fs::symlink_status(source, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(source.string(), ": ", ec.message()));
  if (fs::is_symlink(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.string(), ": symbolic links are not supported; copy the target in"));
  }
  if (fs::is_directory(status)) {
    fs::create_directory(target, ec);
    if (ec) return absl::UnavailableError(absl::StrCat(target.string(), ": ", ec.message()));
    for (fs::directory_iterator it(source, ec), end; !ec && it != end; it.increment(ec)) {
      if (IsSkipped(it->path().filename())) continue;
      RETURN_IF_ERROR(CopyEntry(it->path(), target / it->path().filename()));
    }
    if (ec) return absl::UnavailableError(absl::StrCat(source.string(), ": ", ec.message()));
    return absl::OkStatus();
  }
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.string(), ": not a regular file or folder"));
  }
  fs::copy_file(source, target, fs::copy_options::none, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot copy ", source.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<fs::path> LocalStateRoot(const EnvLookup& env) {
  if (std::string dir = Env(env, "BERTH_LOCAL_DIR"); !dir.empty()) return fs::path(dir);
  if (std::string dir = Env(env, "XDG_STATE_HOME"); !dir.empty()) {
    return fs::path(dir) / "berth" / "local";
  }
  if (std::string home = Env(env, "HOME"); !home.empty()) {
    return fs::path(home) / ".local" / "state" / "berth" / "local";
  }
  return absl::FailedPreconditionError(
      "no folder for local endpoints: set BERTH_LOCAL_DIR (or XDG_STATE_HOME or HOME)");
}

std::string FormatTimestamp(SystemTime time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string LocalDeploymentRecord::Name() const {
  auto it = spec.find("name");
  return it != spec.end() && it->is_string() ? it->get<std::string>() : "";
}

json ToJson(const LocalEndpointRecord& record) {
  return json{{"spec", record.spec},
              {"warnings", record.warnings},
              {"created_at", record.created_at},
              {"updated_at", record.updated_at}};
}

json ToJson(const LocalDeploymentRecord& r) {
  return json{{"spec", r.spec},
              {"model_source", r.model_source},
              {"code_source", r.code_source},
              {"model_dir", r.model_dir},
              {"pid", r.process.pid},
              {"pgid", r.process.pgid},
              {"sid", r.process.sid},
              {"start_time", r.process.start_time},
              {"port", r.port},
              {"state", r.state},
              {"reason", r.reason},
              {"warnings", r.warnings},
              {"readiness_path", r.readiness_path},
              {"scoring_path", r.scoring_path},
              {"swagger_path", r.swagger_path},
              {"startup_timeout_s", r.startup_timeout_s},
              {"started_at", r.started_at},
              {"created_at", r.created_at},
              {"updated_at", r.updated_at}};
}

absl::StatusOr<LocalEndpointRecord> EndpointRecordFromJson(const json& doc) {
  LocalEndpointRecord r;
  RETURN_IF_ERROR(ReadSpec(doc, &r.spec));
  RETURN_IF_ERROR(ReadStrings(doc, "warnings", &r.warnings));
  RETURN_IF_ERROR(ReadString(doc, "created_at", &r.created_at));
  RETURN_IF_ERROR(ReadString(doc, "updated_at", &r.updated_at));
  return r;
}

absl::StatusOr<LocalDeploymentRecord> DeploymentRecordFromJson(const json& doc) {
  LocalDeploymentRecord r;
  RETURN_IF_ERROR(ReadSpec(doc, &r.spec));
  RETURN_IF_ERROR(ReadString(doc, "model_source", &r.model_source));
  RETURN_IF_ERROR(ReadString(doc, "code_source", &r.code_source));
  RETURN_IF_ERROR(ReadString(doc, "model_dir", &r.model_dir));
  RETURN_IF_ERROR(ReadInteger(doc, "pid", &r.process.pid));
  RETURN_IF_ERROR(ReadInteger(doc, "pgid", &r.process.pgid));
  RETURN_IF_ERROR(ReadInteger(doc, "sid", &r.process.sid));
  RETURN_IF_ERROR(ReadInteger(doc, "start_time", &r.process.start_time));
  RETURN_IF_ERROR(ReadInteger(doc, "port", &r.port));
  RETURN_IF_ERROR(ReadString(doc, "state", &r.state));
  RETURN_IF_ERROR(ReadString(doc, "reason", &r.reason));
  RETURN_IF_ERROR(ReadStrings(doc, "warnings", &r.warnings));
  RETURN_IF_ERROR(ReadString(doc, "readiness_path", &r.readiness_path));
  RETURN_IF_ERROR(ReadString(doc, "scoring_path", &r.scoring_path));
  RETURN_IF_ERROR(ReadString(doc, "swagger_path", &r.swagger_path));
  RETURN_IF_ERROR(ReadInteger(doc, "startup_timeout_s", &r.startup_timeout_s));
  RETURN_IF_ERROR(ReadString(doc, "started_at", &r.started_at));
  RETURN_IF_ERROR(ReadString(doc, "created_at", &r.created_at));
  RETURN_IF_ERROR(ReadString(doc, "updated_at", &r.updated_at));
  if (r.Name().empty()) return Damaged("the deployment spec has no name");
  return r;
}

EffectiveState Effective(const LocalDeploymentRecord& record, const std::string& endpoint,
                         const LocalObservation& observed) {
  EffectiveState out{record.state, record.reason};
  if (record.state == "Failed") return out;
  if (!observed.running) {
    out.state = "Failed";
    out.reason =
        absl::StrCat("the inference server (pid ", record.process.pid, ") ",
                     observed.exit_text.empty() ? "is no longer running" : observed.exit_text,
                     "; see `berth online-deployment get-logs --local -e ", endpoint, " -n ",
                     record.Name(), "`");
    return out;
  }
  if (record.state == "Succeeded") return out;
  // Creating or Updating, started with --no-wait (or its CLI was interrupted).
  if (observed.ready) {
    out.state = "Succeeded";
    out.reason.clear();
    return out;
  }
  std::tm started{};
  if (record.startup_timeout_s > 0 &&
      ::strptime(record.started_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &started) != nullptr) {
    SystemTime start = std::chrono::system_clock::from_time_t(::timegm(&started));
    if (observed.now > start + std::chrono::seconds(record.startup_timeout_s)) {
      out.state = "Failed";
      out.reason = absl::StrCat("instance 1 was not ready after ", record.startup_timeout_s,
                                " s (readiness_probe initial_delay + period x failure_threshold)");
    }
  }
  return out;
}

std::string LocalUrl(int port, const std::string& path) {
  return absl::StrCat("http://127.0.0.1:", port, path);
}

json DeploymentView(const LocalDeploymentRecord& record, const std::string& endpoint,
                    const fs::path& log_file, const LocalObservation& observed) {
  EffectiveState effective = Effective(record, endpoint, observed);
  json view = record.spec;
  view["provisioning_state"] = effective.state;
  view["reason"] = effective.reason;
  view["warnings"] = record.warnings;
  json instances = json::array();
  if (record.process.pid > 0) {
    std::string state = !observed.running                ? "Exited"
                        : effective.state == "Succeeded" ? "Ready"
                                                         : "Starting";
    instances.push_back({{"id", 1},
                         {"state", state},
                         {"port", record.port},
                         {"pid", record.process.pid},
                         {"restarts", 0}});
  }
  view["instances"] = std::move(instances);
  view["scoring_uri"] = record.port > 0 ? LocalUrl(record.port, record.scoring_path) : "";
  view["log_file"] = log_file.string();
  view["location"] = "local";
  view["created_at"] = record.created_at;
  view["updated_at"] = record.updated_at;
  return view;
}

json EndpointView(const LocalEndpointRecord& record, const LocalDeploymentRecord* deployment) {
  json view = record.spec;
  json traffic = json::object();
  if (deployment != nullptr) traffic[deployment->Name()] = 100;
  view["traffic"] = std::move(traffic);
  view["mirror_traffic"] = json::object();
  view["provisioning_state"] = "Succeeded";
  view["reason"] = "";
  const bool served = deployment != nullptr && deployment->port > 0;
  view["scoring_uri"] = served ? LocalUrl(deployment->port, deployment->scoring_path) : "";
  view["openapi_uri"] = served ? LocalUrl(deployment->port, deployment->swagger_path) : "";
  view["location"] = "local";
  view["created_at"] = record.created_at;
  view["updated_at"] = record.updated_at;
  view["warnings"] = record.warnings;
  return view;
}

absl::Status CopyLocalTree(const fs::path& source, const fs::path& target) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec))) {
    return absl::AlreadyExistsError(absl::StrCat(target.string(), " already exists"));
  }
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(target.parent_path().string(), ": ", ec.message()));
  }
  return CopyEntry(source, target);
}

EndpointLock::~EndpointLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

fs::path LocalStore::EndpointDir(const std::string& endpoint) const { return root_ / endpoint; }
fs::path LocalStore::AppDir(const std::string& endpoint) const {
  return EndpointDir(endpoint) / "app";
}
fs::path LocalStore::ModelsDir(const std::string& endpoint) const {
  return EndpointDir(endpoint) / "models";
}
fs::path LocalStore::LogFile(const std::string& endpoint) const {
  return EndpointDir(endpoint) / "logs" / "inference-server.log";
}

absl::Status LocalStore::CreateEndpoint(const std::string& name,
                                        const LocalEndpointRecord& record) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot create ", root_.string(), ": ", ec.message()));
  ASSIGN_OR_RETURN(fs::path tmp, MakeStagingDir(""));
  RETURN_IF_ERROR(WriteJsonFile(tmp / kEndpointFile, ToJson(record)));
  std::ofstream(tmp / kLockFile).flush();
  // rename() of a folder onto an existing non-empty folder fails: the create is atomic.
  if (fs::exists(EndpointDir(name), ec)) {
    fs::remove_all(tmp, ec);
    return absl::AlreadyExistsError(absl::StrCat("local endpoint ", name, " already exists"));
  }
  fs::rename(tmp, EndpointDir(name), ec);
  if (ec) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    if (ec == std::errc::directory_not_empty || ec == std::errc::file_exists) {
      return absl::AlreadyExistsError(absl::StrCat("local endpoint ", name, " already exists"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot create ", EndpointDir(name).string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<LocalEndpointRecord> LocalStore::ReadEndpoint(const std::string& name) const {
  fs::path file = EndpointDir(name) / kEndpointFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return absl::NotFoundError(absl::StrCat("local endpoint ", name,
                                            " does not exist; create it with `berth "
                                            "online-endpoint create --local -n ",
                                            name, "`"));
  }
  ASSIGN_OR_RETURN(json doc, ReadJsonFile(file));
  absl::StatusOr<LocalEndpointRecord> record = EndpointRecordFromJson(doc);
  if (!record.ok()) {
    return absl::DataLossError(absl::StrCat(file.string(), ": ", record.status().message()));
  }
  return record;
}

absl::StatusOr<std::vector<std::string>> LocalStore::ListEndpoints() const {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return names;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (fs::exists(it->path() / kEndpointFile)) names.push_back(name);
  }
  if (ec) return absl::UnavailableError(absl::StrCat(root_.string(), ": ", ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status LocalStore::RemoveEndpoint(const std::string& name) {
  ASSIGN_OR_RETURN(fs::path aside, MakeStagingDir(""));
  std::error_code ec;
  fs::remove(aside, ec);
  fs::rename(EndpointDir(name), aside, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot remove ", EndpointDir(name).string(), ": ", ec.message()));
  }
  fs::remove_all(aside, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot remove ", aside.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<LocalDeploymentRecord>> LocalStore::ReadDeployment(
    const std::string& endpoint) const {
  fs::path file = EndpointDir(endpoint) / kDeploymentFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<LocalDeploymentRecord>();
  ASSIGN_OR_RETURN(json doc, ReadJsonFile(file));
  absl::StatusOr<LocalDeploymentRecord> record = DeploymentRecordFromJson(doc);
  if (!record.ok()) {
    return absl::DataLossError(absl::StrCat(file.string(), ": ", record.status().message()));
  }
  return std::optional<LocalDeploymentRecord>(*std::move(record));
}

absl::Status LocalStore::WriteDeployment(const std::string& endpoint,
                                         const LocalDeploymentRecord& record) {
  return WriteJsonFile(EndpointDir(endpoint) / kDeploymentFile, ToJson(record));
}

absl::Status LocalStore::RemoveDeployment(const std::string& endpoint) {
  const fs::path dir = EndpointDir(endpoint);
  std::error_code ec;
  fs::remove(dir / kDeploymentFile, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot remove ", (dir / kDeploymentFile).string(), ": ", ec.message()));
  for (const char* sub : {"app", "models", "logs"}) {
    fs::remove_all(dir / sub, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot remove ", (dir / sub).string(), ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EndpointLock> LocalStore::Lock(const std::string& endpoint) const {
  fs::path file = EndpointDir(endpoint) / kLockFile;
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOENT) return ReadEndpoint(endpoint).status();  // the NOT_FOUND message
    return absl::UnavailableError(
        absl::StrCat("cannot open ", file.string(), ": ", std::strerror(errno)));
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int error = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot lock ", file.string(), ": ", std::strerror(error)));
  }
  EndpointLock lock(fd);
  // A delete may have removed the endpoint while this waited for the lock.
  RETURN_IF_ERROR(ReadEndpoint(endpoint).status());
  return lock;
}

absl::StatusOr<fs::path> LocalStore::MakeStagingDir(const std::string& endpoint) const {
  static std::atomic<int> counter{0};
  const fs::path parent = endpoint.empty() ? root_ : EndpointDir(endpoint);
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path dir = parent / absl::StrCat(".staging-", ::getpid(), "-", counter++);
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return dir;
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot create a staging folder in ", parent.string()));
}

}  // namespace berth::cli
