// The OpenAPI 3 document served at /api/v1/openapi.json; docs/api.md is its prose twin.

#include "controlplane/management_api.h"
#include "nlohmann/json.hpp"

namespace berth::controlplane {

using nlohmann::json;

namespace {

json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json JsonBody(const json& schema) {
  return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

// A resource document as JSON or as the same document in YAML (docs/api.md, "YAML bodies").
json DocumentBody(const json& schema) {
  json body = JsonBody(schema);
  for (const char* type : {"application/yaml", "text/yaml", "application/x-yaml"}) {
    body["content"][type] = {{"schema", schema}};
  }
  return body;
}

json Answer(const std::string& description, const json& schema = nullptr) {
  json r = {{"description", description}};
  if (!schema.is_null()) r["content"] = {{"application/json", {{"schema", schema}}}};
  return r;
}

json Errors() {
  json errors;
  for (const char* code : {"400", "401", "404", "409"}) {
    errors[code] = Answer("error", Ref("Error"));
  }
  return errors;
}

json Op(const std::string& summary, const std::string& id, json responses,
        const json& body = nullptr) {
  json op = {{"summary", summary}, {"operationId", id}, {"responses", Errors()}};
  for (auto& [code, r] : responses.items()) op["responses"][code] = r;
  if (!body.is_null()) op["requestBody"] = body;
  return op;
}

json PathParam(const std::string& name, const std::string& description) {
  return {{"name", name},
          {"in", "path"},
          {"required", true},
          {"description", description},
          {"schema", {{"type", "string"}}}};
}

// `$top` and `$skiptoken` of the list routes, and a page of `item`s (docs/api.md, "Lists and
// paging").
json PageParams() {
  return json::array(
      {{{"name", "$top"},
        {"in", "query"},
        {"description", "page size, 1 to 1000 (default 100)"},
        {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 100}}}},
       {{"name", "$skiptoken"},
        {"in", "query"},
        {"description", "continuation token from the previous page's nextLink"},
        {"schema", {{"type", "string"}}}}});
}

json ListAnswer(const std::string& description, const std::string& item) {
  return Answer(description,
                {{"type", "object"},
                 {"required", {"value"}},
                 {"properties",
                  {{"value", {{"type", "array"}, {"items", Ref(item)}}},
                   {"nextLink",
                    {{"type", "string"},
                     {"description", "URL of the next page; absent on the last page"}}}}}});
}

json WithParams(json op, const json& params) {
  op["parameters"] = params;
  return op;
}

// The batch routes (docs/batch.md, "Management API"), served by batch/batch_api.cc.
void AddBatchPaths(json& paths) {
  json any = {{"type", "object"}};
  auto body = [&] { return DocumentBody(any); };
  auto one = [&](const std::string& what) { return Answer(what, any); };
  auto page = [&](const std::string& what) {
    return Answer(
        what,
        {{"type", "object"},
         {"properties",
          {{"value", {{"type", "array"}, {"items", any}}}, {"nextLink", {{"type", "string"}}}}}});
  };
  auto query = [](const std::string& name, const std::string& description,
                  const std::string& type = "string") {
    return json{{"name", name},
                {"in", "query"},
                {"description", description},
                {"schema", {{"type", type}}}};
  };
  json e = json::array({PathParam("endpoint", "batch endpoint name")});
  json ed = json::array(
      {PathParam("endpoint", "batch endpoint name"), PathParam("deployment", "deployment name")});
  json written = {{"200", one("updated")}, {"201", one("created")}};
  paths["/api/v1/batch-endpoints"] = {
      {"get", WithParams(Op("List batch endpoints", "listBatchEndpoints",
                            {{"200", page("batch endpoints")}}),
                         PageParams())}};
  paths["/api/v1/batch-endpoints/{endpoint}"] = {
      {"parameters", e},
      {"get", Op("Show a batch endpoint", "getBatchEndpoint", {{"200", one("batch endpoint")}})},
      {"put", Op("Create or update (merge) a batch endpoint", "putBatchEndpoint", written, body())},
      {"patch", Op("Update fields of a batch endpoint", "patchBatchEndpoint",
                   {{"200", one("updated")}}, body())},
      {"delete", Op("Delete a batch endpoint and its deployments (jobs stay)",
                    "deleteBatchEndpoint", {{"200", one("deleted")}})}};
  paths["/api/v1/batch-endpoints/{endpoint}/jobs"] = {
      {"parameters", e},
      {"get", WithParams(Op("List the endpoint's jobs, newest first", "listBatchEndpointJobs",
                            {{"200", page("jobs")}}),
                         PageParams())},
      {"post", Op("Invoke: start a job (header azureml-model-deployment picks a deployment)",
                  "invokeBatchEndpoint", {{"201", one("job")}}, body())}};
  paths["/api/v1/batch-endpoints/{endpoint}/deployments"] = {
      {"parameters", e},
      {"get", WithParams(Op("List batch deployments", "listBatchDeployments",
                            {{"200", page("batch deployments")}}),
                         PageParams())}};
  json put_deployment =
      Op("Create or update (merge) a batch deployment; set_default=true also "
         "makes it the endpoint's default",
         "putBatchDeployment", written, body());
  put_deployment["parameters"] =
      json::array({query("set_default", "make it the endpoint's default deployment", "boolean")});
  paths["/api/v1/batch-endpoints/{endpoint}/deployments/{deployment}"] = {
      {"parameters", ed},
      {"get",
       Op("Show a batch deployment", "getBatchDeployment", {{"200", one("batch deployment")}})},
      {"put", put_deployment},
      {"patch", Op("Update fields of a batch deployment", "patchBatchDeployment",
                   {{"200", one("updated")}}, body())},
      {"delete", Op("Delete a batch deployment (409 while it is the default of others, or one "
                    "of its jobs runs)",
                    "deleteBatchDeployment", {{"200", one("deleted")}})}};
  paths["/api/v1/batch-endpoints/{endpoint}/deployments/{deployment}/jobs"] = {
      {"parameters", ed},
      {"get", WithParams(Op("List the deployment's jobs, newest first", "listBatchDeploymentJobs",
                            {{"200", page("jobs")}}),
                         PageParams())}};
  paths["/api/v1/computes"] = {
      {"get", WithParams(Op("List compute clusters", "listComputes", {{"200", page("computes")}}),
                         PageParams())}};
  paths["/api/v1/computes/{compute}"] = {
      {"parameters", json::array({PathParam("compute", "compute name")})},
      {"get", Op("Show a compute cluster", "getCompute", {{"200", one("compute")}})},
      {"put", Op("Create or replace a compute cluster", "putCompute", written, body())},
      {"delete", Op("Delete a compute cluster (409 while a batch deployment names it)",
                    "deleteCompute", {{"200", one("deleted")}})}};
  json data_params = PageParams();
  data_params.push_back(query("name", "only the versions of this data asset"));
  paths["/api/v1/data"] = {
      {"get", WithParams(Op("List data asset versions", "listData", {{"200", page("data")}}),
                         data_params)},
      {"post", Op("Create a data asset version (no version: the next integer)", "createData",
                  {{"201", one("created")}}, body())}};
  paths["/api/v1/data/{name}/versions"] = {
      {"parameters", json::array({PathParam("name", "data asset name")})},
      {"get", WithParams(Op("List the versions of a data asset", "listDataVersions",
                            {{"200", page("data")}}),
                         PageParams())}};
  json data_version = json::array(
      {PathParam("name", "data asset name"), PathParam("version", "version, or `latest`")});
  paths["/api/v1/data/{name}/versions/{version}"] = {
      {"parameters", data_version},
      {"get", Op("Show a data asset version", "getData", {{"200", one("data asset")}})}};
  paths["/api/v1/data/{name}/versions/{version}/archive"] = {
      {"parameters", data_version},
      {"post", Op("Archive a data asset version (hidden from latest)", "archiveData",
                  {{"200", one("data asset")}})}};
  json jobs_params = PageParams();
  jobs_params.push_back(query("endpoint", "only this batch endpoint's jobs"));
  jobs_params.push_back(query("deployment", "only this deployment's jobs"));
  paths["/api/v1/jobs"] = {
      {"get", WithParams(Op("List jobs, newest first", "listJobs", {{"200", page("jobs")}}),
                         jobs_params)}};
  json job = json::array({PathParam("job", "job name")});
  paths["/api/v1/jobs/{job}"] = {{"parameters", job},
                                 {"get", Op("Show a job", "getJob", {{"200", one("job")}})}};
  paths["/api/v1/jobs/{job}/cancel"] = {
      {"parameters", job}, {"post", Op("Cancel a job", "cancelJob", {{"200", one("job")}})}};
  json log_op = Op("Read the driver log from an offset (at most 1 MiB)", "getJobLog",
                   {{"200", one("{offset, text, job}")}});
  log_op["parameters"] = json::array({query("offset", "byte offset to read from", "integer")});
  paths["/api/v1/jobs/{job}/log"] = {{"parameters", job}, {"get", log_op}};
  json download =
      Op("Download the output (and with all=true the logs) as a tar", "downloadJob",
         {{"200",
           {{"description", "tar"},
            {"content",
             {{"application/x-tar", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}}});
  download["parameters"] =
      json::array({query("output", "the output: score"), query("all", "also the logs", "boolean")});
  paths["/api/v1/jobs/{job}/download"] = {{"parameters", job}, {"get", download}};
}

json Build() {
  json endpoint_params = json::array({PathParam("endpoint", "endpoint name")});
  json deployment_params = json::array(
      {PathParam("endpoint", "endpoint name"), PathParam("deployment", "deployment name")});
  json paths;
  paths["/api/v1/online-endpoints"] = {
      {"get", WithParams(Op("List online endpoints (one page, by name)", "listEndpoints",
                            {{"200", ListAnswer("endpoints", "Endpoint")}}),
                         PageParams())},
      {"post",
       Op("Create an online endpoint (409 if it exists)", "createEndpoint",
          {{"201", Answer("created", Ref("Endpoint"))}}, DocumentBody(Ref("EndpointSpec")))}};
  paths["/api/v1/online-endpoints/{endpoint}"] = {
      {"parameters", endpoint_params},
      {"get",
       Op("Show an endpoint", "getEndpoint", {{"200", Answer("endpoint", Ref("Endpoint"))}})},
      {"put", Op("Create or update (merge) an endpoint", "putEndpoint",
                 {{"200", Answer("updated", Ref("Endpoint"))},
                  {"201", Answer("created", Ref("Endpoint"))}},
                 DocumentBody(Ref("EndpointSpec")))},
      {"patch",
       Op("Update fields of an endpoint (merge)", "patchEndpoint",
          {{"200", Answer("updated", Ref("Endpoint"))}}, DocumentBody({{"type", "object"}}))},
      {"delete", Op("Delete an endpoint and its deployments", "deleteEndpoint",
                    {{"202", Answer("deleting", Ref("Endpoint"))}})}};
  paths["/api/v1/online-endpoints/{endpoint}/keys"] = {
      {"parameters", endpoint_params},
      {"get", Op("Get the endpoint keys (auth_mode key)", "getKeys",
                 {{"200", Answer("keys", Ref("Keys"))}})}};
  paths["/api/v1/online-endpoints/{endpoint}/regenerate-keys"] = {
      {"parameters", endpoint_params},
      {"post",
       Op("Regenerate the primary or secondary key", "regenerateKeys",
          {{"200", Answer("keys", Ref("Keys"))}},
          JsonBody({{"type", "object"},
                    {"properties",
                     {{"key_type", {{"type", "string"}, {"enum", {"primary", "secondary"}}}}}}}))}};
  paths["/api/v1/online-endpoints/{endpoint}/token"] = {
      {"parameters", endpoint_params},
      {"post", Op("Issue an aml_token (auth_mode aml_token)", "getToken",
                  {{"200", Answer("token", Ref("Token"))}})}};
  paths["/api/v1/online-endpoints/{endpoint}/deployments"] = {
      {"parameters", endpoint_params},
      {"get", WithParams(Op("List deployments (one page, by name)", "listDeployments",
                            {{"200", ListAnswer("deployments", "Deployment")}}),
                         PageParams())},
      {"post",
       Op("Create a deployment (409 if it exists)", "createDeployment",
          {{"201", Answer("created", Ref("Deployment"))}}, DocumentBody(Ref("DeploymentSpec")))}};
  paths["/api/v1/online-endpoints/{endpoint}/deployments/{deployment}"] = {
      {"parameters", deployment_params},
      {"get", Op("Show a deployment", "getDeployment",
                 {{"200", Answer("deployment", Ref("Deployment"))}})},
      {"put", Op("Create or update (merge) a deployment", "putDeployment",
                 {{"200", Answer("updated", Ref("Deployment"))},
                  {"201", Answer("created", Ref("Deployment"))}},
                 DocumentBody(Ref("DeploymentSpec")))},
      {"patch",
       Op("Update fields of a deployment (merge)", "patchDeployment",
          {{"200", Answer("updated", Ref("Deployment"))}}, DocumentBody({{"type", "object"}}))},
      {"delete", Op("Delete a deployment (409 while it has live or mirrored traffic)",
                    "deleteDeployment", {{"202", Answer("deleting", Ref("Deployment"))}})}};
  json log_params = deployment_params;
  log_params.push_back({{"name", "lines"}, {"in", "query"}, {"schema", {{"type", "integer"}}}});
  log_params.push_back({{"name", "instance"}, {"in", "query"}, {"schema", {{"type", "integer"}}}});
  paths["/api/v1/online-endpoints/{endpoint}/deployments/{deployment}/logs"] = {
      {"parameters", log_params},
      {"get", Op("Last lines of an instance log", "getLogs",
                 {{"200",
                   {{"description", "log text"},
                    {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}}})}};
  json metrics_params = deployment_params;
  metrics_params.push_back(
      {{"name", "window_s"},
       {"in", "query"},
       {"description", "seconds back from now, 10 to 3600 (default 300)"},
       {"schema", {{"type", "integer"}, {"minimum", 10}, {"maximum", 3600}, {"default", 300}}}});
  paths["/api/v1/online-endpoints/{endpoint}/deployments/{deployment}/metrics"] = {
      {"parameters", metrics_params},
      {"get", Op("Request rate, latency and status counts per 2 s step over a recent window",
                 "getDeploymentMetrics",
                 {{"200", Answer("steps, oldest first", Ref("MetricsHistory"))}})}};
  paths["/api/v1/artifacts"] = {
      {"post",
       Op("Upload an artifact (tar); berthd computes its digest", "postArtifact",
          {{"200", Answer("already stored", Ref("StoredArtifact"))},
           {"201", Answer("stored", Ref("StoredArtifact"))}},
          {{"required", true},
           {"content",
            {{"application/x-tar", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}})}};
  paths["/api/v1/artifacts/{digest}"] = {
      {"parameters", json::array({PathParam("digest", "sha256:<hex> of the tar")})},
      {"head", Op("Whether an artifact is stored", "hasArtifact",
                  {{"200", Answer("stored")}, {"404", Answer("not stored")}})},
      {"put",
       Op("Upload an artifact (deterministic tar)", "putArtifact",
          {{"200", Answer("already stored")}, {"201", Answer("stored")}},
          {{"required", true},
           {"content",
            {{"application/x-tar", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}})}};

  json model_list = ListAnswer("model versions", "Model");
  json model_params = PageParams();
  model_params.push_back({{"name", "name"},
                          {"in", "query"},
                          {"description", "only the versions of this model"},
                          {"schema", {{"type", "string"}}}});
  paths["/api/v1/models"] = {
      {"get", WithParams(Op("List registered model versions (all, or those of ?name=)",
                            "listModels", {{"200", model_list}}),
                         model_params)},
      {"post", Op("Register a model version (409 if it exists; no version: the next integer)",
                  "createModel", {{"201", Answer("registered", Ref("Model"))}},
                  DocumentBody(Ref("ModelSpec")))}};
  paths["/api/v1/models/{name}/versions"] = {
      {"parameters", json::array({PathParam("name", "model name")})},
      {"get",
       WithParams(Op("List the versions of a model", "listModelVersions", {{"200", model_list}}),
                  PageParams())}};
  paths["/api/v1/models/{name}/versions/{version}"] = {
      {"parameters", json::array({PathParam("name", "model name"),
                                  PathParam("version", "version, or `latest` for the newest")})},
      {"get", Op("Show a model version", "getModel", {{"200", Answer("model", Ref("Model"))}})},
      {"delete", Op("Delete a model version (409 while a deployment uses it)", "deleteModel",
                    {{"204", Answer("deleted")}})}};

  AddBatchPaths(paths);

  json schemas;
  schemas["Error"] = {{"type", "object"},
                      {"required", {"error"}},
                      {"properties",
                       {{"error",
                         {{"type", "object"},
                          {"required", {"code", "message"}},
                          {"properties",
                           {{"code", {{"type", "string"}}},
                            {"message", {{"type", "string"}}},
                            {"target", {{"type", "string"}}}}}}}}}};
  json int_map = {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}};
  schemas["EndpointSpec"] = {{"type", "object"},
                             {"description", "managedOnlineEndpoint YAML fields (docs/yaml.md)"},
                             {"properties",
                              {{"name", {{"type", "string"}}},
                               {"description", {{"type", "string"}}},
                               {"tags", {{"type", "object"}}},
                               {"auth_mode", {{"type", "string"}, {"enum", {"key", "aml_token"}}}},
                               {"traffic", int_map},
                               {"mirror_traffic", int_map}}}};
  schemas["Endpoint"] = {
      {"allOf",
       {Ref("EndpointSpec"),
        {{"type", "object"},
         {"properties",
          {{"provisioning_state", {{"type", "string"}}},
           {"reason", {{"type", "string"}}},
           {"scoring_uri", {{"type", "string"}}},
           {"openapi_uri", {{"type", "string"}}},
           {"warnings", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}};
  schemas["DeploymentSpec"] = {
      {"type", "object"},
      {"description", "managedOnlineDeployment YAML fields (docs/yaml.md)"},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"endpoint_name", {{"type", "string"}}},
        {"model", {{"oneOf", {{{"type", "string"}}, {{"type", "object"}}}}}},
        {"code_configuration", {{"type", "object"}}},
        {"environment", {{"type", "object"}}},
        {"environment_variables", {{"type", "object"}}},
        {"instance_count", {{"type", "integer"}, {"minimum", 1}}},
        {"scale_settings",
         {{"type", "object"},
          {"properties",
           {{"type", {{"type", "string"}, {"enum", {"default", "target_utilization"}}}},
            {"min_instances", {{"type", "integer"}, {"minimum", 0}}},
            {"max_instances", {{"type", "integer"}, {"minimum", 1}}},
            {"target_utilization_percentage",
             {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}},
            {"polling_interval", {{"type", "integer"}, {"minimum", 1}}},
            {"scale_down_delay", {{"type", "integer"}, {"minimum", 0}}}}}}},
        {"request_settings", {{"type", "object"}}},
        {"liveness_probe", {{"type", "object"}}},
        {"readiness_probe", {{"type", "object"}}}}}};
  schemas["Deployment"] = {{"allOf",
                            {Ref("DeploymentSpec"),
                             {{"type", "object"},
                              {"properties",
                               {{"provisioning_state", {{"type", "string"}}},
                                {"reason", {{"type", "string"}}},
                                {"warnings", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                                {"instances", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                                {"live", {{"type", "object"}}}}}}}}};
  json artifact = {{"type", "object"},
                   {"required", {"digest", "base_name"}},
                   {"properties",
                    {{"digest", {{"type", "string"}}},
                     {"base_name", {{"type", "string"}}},
                     {"is_file", {{"type", "boolean"}}}}}};
  json string_map = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  schemas["ModelSpec"] = {
      {"type", "object"},
      {"description", "Azure ML model YAML fields, plus the uploaded artifact"},
      {"required", {"name", "artifact"}},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"version", {{"type", "string"}}},
        {"type", {{"type", "string"}, {"enum", {"custom_model", "mlflow_model", "triton_model"}}}},
        {"description", {{"type", "string"}}},
        {"tags", string_map},
        {"properties", string_map},
        {"path", {{"type", "string"}}},
        {"artifact", artifact}}}};
  schemas["Model"] = {
      {"allOf",
       {Ref("ModelSpec"),
        {{"type", "object"}, {"properties", {{"created_at", {{"type", "string"}}}}}}}}};
  json count = {{"type", "integer"}, {"minimum", 0}};
  json nullable_ms = {{"type", "number"}, {"nullable", true}};
  schemas["MetricsHistory"] = {{"type", "object"},
                               {"required", {"step_s", "window_s", "points"}},
                               {"properties",
                                {{"step_s", {{"type", "integer"}}},
                                 {"window_s", {{"type", "integer"}}},
                                 {"points",
                                  {{"type", "array"},
                                   {"items",
                                    {{"type", "object"},
                                     {"properties",
                                      {{"time", {{"type", "string"}, {"format", "date-time"}}},
                                       {"requests_per_s", {{"type", "number"}}},
                                       {"p50_ms", nullable_ms},
                                       {"p99_ms", nullable_ms},
                                       {"status_2xx", count},
                                       {"status_4xx", count},
                                       {"status_5xx", count},
                                       {"status_429", count}}}}}}}}}};
  schemas["StoredArtifact"] = {
      {"type", "object"},
      {"required", {"digest", "size"}},
      {"properties", {{"digest", {{"type", "string"}}}, {"size", {{"type", "integer"}}}}}};
  schemas["Keys"] = {
      {"type", "object"},
      {"properties",
       {{"primaryKey", {{"type", "string"}}}, {"secondaryKey", {{"type", "string"}}}}}};
  schemas["Token"] = {{"type", "object"},
                      {"properties",
                       {{"accessToken", {{"type", "string"}}},
                        {"expiryTimeUtc", {{"type", "integer"}}},
                        {"refreshAfterTimeUtc", {{"type", "integer"}}},
                        {"tokenType", {{"type", "string"}}}}}};
  return {{"openapi", "3.0.3"},
          {"info", {{"title", "berth management API"}, {"version", "1"}}},
          {"security", json::array({{{"admin", json::array()}}})},
          {"paths", paths},
          {"components",
           {{"schemas", schemas},
            {"securitySchemes", {{"admin", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

}  // namespace

const std::string& ManagementOpenApiJson() {
  static const std::string doc = Build().dump(2);
  return doc;
}

}  // namespace berth::controlplane
