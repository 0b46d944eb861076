#include "state/state_store.h"

#include <utility>

namespace berth::state {

WriteBatch& WriteBatch::Add(Action action, EndpointRecord record) {
  Op op;
  op.action = action;
  op.kind = RecordKind::kEndpoint;
  op.endpoint = std::move(record);
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::Add(Action action, DeploymentRecord record) {
  Op op;
  op.action = action;
  op.kind = RecordKind::kDeployment;
  op.deployment = std::move(record);
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::CreateEndpoint(EndpointRecord record) {
  return Add(Action::kCreate, std::move(record));
}

WriteBatch& WriteBatch::UpdateEndpoint(EndpointRecord record) {
  return Add(Action::kUpdate, std::move(record));
}

WriteBatch& WriteBatch::PutEndpoint(EndpointRecord record) {
  return Add(Action::kPut, std::move(record));
}

WriteBatch& WriteBatch::DeleteEndpoint(std::string name, int64_t expected_revision) {
  EndpointRecord key;
  key.name = std::move(name);
  key.revision = expected_revision;
  return Add(Action::kDelete, std::move(key));
}

WriteBatch& WriteBatch::CreateDeployment(DeploymentRecord record) {
  return Add(Action::kCreate, std::move(record));
}

WriteBatch& WriteBatch::UpdateDeployment(DeploymentRecord record) {
  return Add(Action::kUpdate, std::move(record));
}

WriteBatch& WriteBatch::PutDeployment(DeploymentRecord record) {
  return Add(Action::kPut, std::move(record));
}

WriteBatch& WriteBatch::DeleteDeployment(std::string endpoint, std::string name,
                                         int64_t expected_revision) {
  DeploymentRecord key;
  key.endpoint = std::move(endpoint);
  key.name = std::move(name);
  key.revision = expected_revision;
  return Add(Action::kDelete, std::move(key));
}

}  // namespace berth::state
