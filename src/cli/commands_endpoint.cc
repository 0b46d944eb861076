// `berth online-endpoint ...`: create, update, show, list, delete, invoke, get-credentials,
// regenerate-keys.

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/traffic.h"
#include "cli/user_file.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr char kEndpoints[] = "/online-endpoints";

std::string ShowCommand(const std::string& name) { return "berth online-endpoint show -n " + name; }

// ---- create / update ---------------------------------------------------------------------

struct WriteOptions {
  std::string name;
  SpecOptions spec;
  std::vector<std::string> traffic;
  std::vector<std::string> mirror_traffic;
  WaitOptions wait;
};

absl::Status Create(Session& session, const WriteOptions& o) {
  SpecInput input = o.spec.ToInput();
  if (!o.name.empty()) input.overrides.emplace_back("name", o.name);
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
  const std::string name = StringField(doc, "name");
  if (name.empty()) {
    return UsageError("an endpoint name is required: pass --name or set `name` in the file");
  }
  if (absl::StatusOr<core::Parsed<core::EndpointSpec>> parsed = core::ParseEndpointSpec(doc);
      !parsed.ok()) {
    return o.spec.file.empty() ? parsed.status() : Annotate(parsed.status(), o.spec.file);
  }
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  absl::StatusOr<json> answer = client->Post(kEndpoints, doc, /*create=*/true);
  if (absl::IsAlreadyExists(answer.status())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "endpoint ", name, " already exists; use `berth online-endpoint update` to change it"));
  }
  if (!answer.ok()) return answer.status();
  ASSIGN_OR_RETURN(
      json result,
      FinishWrite(session, *answer, EndpointPath(name),
                  {"Creating", "endpoint", name, false, {}, ShowCommand(name)}, o.wait));
  return session.Print(result, ResourceKind::kEndpoint);
}

absl::Status Update(Session& session, const WriteOptions& o) {
  if (!o.spec.given() && o.traffic.empty() && o.mirror_traffic.empty()) {
    return UsageError(
        "nothing to update: give -f/--file, --set, --add, --remove, --traffic or --mirror-traffic");
  }
  SpecInput input = o.spec.ToInput(CurrentResource(session, EndpointPath(o.name)));
  if (!o.spec.file.empty() && !o.name.empty()) input.overrides.emplace_back("name", o.name);
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
  std::string name = o.name.empty() ? StringField(doc, "name") : o.name;
  if (name.empty()) {
    return UsageError("an endpoint name is required: pass --name or set `name` in the file");
  }
  if (!o.traffic.empty()) {
    absl::StatusOr<json> traffic = ParseTrafficRule(o.traffic, "--traffic");
    if (!traffic.ok()) return UsageError(std::string(traffic.status().message()));
    doc["traffic"] = *std::move(traffic);
  }
  if (!o.mirror_traffic.empty()) {
    absl::StatusOr<json> mirror = ParseMirrorTrafficRule(o.mirror_traffic);
    if (!mirror.ok()) return UsageError(std::string(mirror.status().message()));
    doc["mirror_traffic"] = *std::move(mirror);
  }
  // The document may be partial: berthd validates the merged result.
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  absl::StatusOr<json> patched = client->Patch(EndpointPath(name), doc);
  if (!patched.ok()) return InSpecFile(patched.status(), o.spec.file);
  json answer = *std::move(patched);
  ASSIGN_OR_RETURN(
      json result,
      FinishWrite(session, answer, EndpointPath(name),
                  {"Updating", "endpoint", name, false, {}, ShowCommand(name)}, o.wait));
  return session.Print(result, ResourceKind::kEndpoint);
}

// ---- read-only and other commands ----------------------------------------------------------

struct NameOptions {
  std::string name;
};

absl::Status Show(Session& session, const NameOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json endpoint, client->Get(EndpointPath(o.name)));
  return session.Print(endpoint, ResourceKind::kEndpoint);
}

struct ListOptions {};

absl::Status List(Session& session, const ListOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json value, client->ListAll(kEndpoints));
  return session.Print(value, ResourceKind::kEndpoint);
}

struct DeleteOptions {
  std::string name;
  bool yes = false;
  WaitOptions wait;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  RETURN_IF_ERROR(session.Confirm(
      absl::StrCat("Delete endpoint ", o.name, " and all its deployments?"), o.yes));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json answer, client->Delete(EndpointPath(o.name)));
  return FinishWrite(session, answer, EndpointPath(o.name),
                     {"Deleting", "endpoint", o.name, true, {}, ShowCommand(o.name)}, o.wait)
      .status();
}

// The data-plane credential for the endpoint's auth mode: a key or an aml_token.
absl::StatusOr<json> Credentials(ApiClient& client, const json& endpoint) {
  const std::string name = StringField(endpoint, "name");
  const std::string mode = StringField(endpoint, "auth_mode");
  if (mode == "key") return client.Get(EndpointPath(name) + "/keys");
  if (mode == "aml_token") return client.Post(EndpointPath(name) + "/token");
  return absl::FailedPreconditionError(
      absl::StrCat("endpoint ", name, " has auth_mode \"", mode,
                   "\"; berth issues credentials for key and aml_token endpoints only"));
}

absl::Status GetCredentials(Session& session, const NameOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json endpoint, client->Get(EndpointPath(o.name)));
  ASSIGN_OR_RETURN(json credentials, Credentials(*client, endpoint));
  return session.Print(credentials, ResourceKind::kOther);
}

struct RegenerateOptions {
  std::string name;
  std::string key_type = "primary";
};

absl::Status RegenerateKeys(Session& session, const RegenerateOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json keys, client->Post(EndpointPath(o.name) + "/regenerate-keys",
                                           json{{"key_type", o.key_type}}));
  return session.Print(keys, ResourceKind::kOther);
}

struct InvokeOptions {
  std::string name;
  std::string request_file;
  std::string deployment;
};

absl::Status Invoke(Session& session, const InvokeOptions& o) {
  ASSIGN_OR_RETURN(std::string body, ReadUserFile(o.request_file, kMaxRequestFileBytes));
  if (json::parse(body, nullptr, /*allow_exceptions=*/false).is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(o.request_file, ": not valid JSON"));
  }

  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json endpoint, client->Get(EndpointPath(o.name)));
  const std::string scoring_uri = StringField(endpoint, "scoring_uri");
  if (scoring_uri.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint ", o.name,
        " has no scoring_uri yet (state: ", StringField(endpoint, "provisioning_state"), ")"));
  }
  ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(scoring_uri));
  HttpRequest request;
  request.method = "POST";
  request.target = url.target;
  request.headers = {{"Content-Type", "application/json"}};
  // The local berthd scores without a credential, as Azure's local endpoints do.
  if (!session.local()) {
    ASSIGN_OR_RETURN(json credentials, Credentials(*client, endpoint));
    std::string secret = StringField(credentials, "primaryKey");
    if (secret.empty()) secret = StringField(credentials, "accessToken");
    if (secret.empty()) {
      return absl::InternalError("berthd returned no primaryKey or accessToken for the endpoint");
    }
    request.headers.emplace_back("Authorization", "Bearer " + secret);
  }
  if (!o.deployment.empty()) request.headers.emplace_back("azureml-model-deployment", o.deployment);
  request.body = std::move(body);
  request.timeout = kScoringTimeout;
  ASSIGN_OR_RETURN(HttpResponse response, SendHttp(url, request));

  if (response.status >= 200 && response.status < 300) {
    return session.PrintText(response.body);
  }
  session.err() << response.body;
  if (!response.body.empty() && response.body.back() != '\n') session.err() << "\n";
  std::string message = absl::StrCat("scoring request failed with HTTP ", response.status);
  if (std::string model_status = response.Header("ms-azureml-model-error-statuscode");
      !model_status.empty()) {
    absl::StrAppend(&message, " (the model answered ", model_status, ": ",
                    response.Header("ms-azureml-model-error-reason"), ")");
  }
  if (std::string id = response.Header("x-request-id"); !id.empty()) {
    absl::StrAppend(&message, "; x-request-id: ", id);
  }
  return absl::Status(StatusFromResponse(response).code(), message);
}

}  // namespace

void AddEndpointCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "online-endpoint", "Manage online endpoints: stable scoring URLs with an auth mode");
  group->require_subcommand(1);

  {
    CLI::App* c = group->add_subcommand(
        "create", "Create an endpoint (fails if it exists) and wait until it is Succeeded");
    auto o = Bind(c, action, &Create);
    c->add_option("-n,--name", o->name, "Endpoint name (wins over `name` in the file)");
    o->spec.Add(c, /*file_required=*/false, "endpoint");
    o->wait.Add(c, "the endpoint is Succeeded or Failed");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "update", "Update an endpoint by merging the file, --set values and traffic rules");
    auto o = Bind(c, action, &Update);
    c->add_option("-n,--name", o->name, "Endpoint name (default: `name` in the file)");
    o->spec.Add(c, /*file_required=*/false, "endpoint");
    c->add_option("--traffic", o->traffic,
                  "Replace the live traffic split, e.g. \"blue=90 green=10\" (percentages of "
                  "0..100 that sum to 0 or 100; unlisted deployments get 0)");
    c->add_option("--mirror-traffic", o->mirror_traffic,
                  "Copy a percentage of live requests to one deployment, e.g. \"green=10\" "
                  "(at most 50; \"green=0\" stops mirroring)");
    o->wait.Add(c, "the endpoint is Succeeded or Failed");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show an endpoint");
    auto o = Bind(c, action, &Show);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List endpoints");
    Bind(c, action, &List);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete", "Delete an endpoint and all its deployments (asks for confirmation)");
    auto o = Bind(c, action, &Delete);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    AddYesFlag(c, o->yes);
    o->wait.Add(c, "the endpoint is gone");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "invoke", "Send a JSON request to the endpoint's scoring URI and print the answer");
    auto o = Bind(c, action, &Invoke);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    c->add_option("-r,--request-file", o->request_file, "JSON file sent as the request body")
        ->required();
    c->add_option("-d,--deployment-name", o->deployment,
                  "Send to this deployment regardless of the traffic rules "
                  "(azureml-model-deployment header)");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "get-credentials",
        "Print the scoring credential: the keys (auth_mode key) or a new token (aml_token)");
    auto o = Bind(c, action, &GetCredentials);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
  }
  {
    CLI::App* c = group->add_subcommand(
        "regenerate-keys", "Replace one of the endpoint's keys and print the new keys");
    auto o = Bind(c, action, &RegenerateKeys);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    c->add_option("--key-type", o->key_type, "Which key to replace: primary or secondary")
        ->check(CLI::IsMember({"primary", "secondary"}))
        ->capture_default_str();
  }
}

}  // namespace berth::cli
