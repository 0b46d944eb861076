// The job and mini-batch codec round-trips every field, and JobRepository keeps the store's
// rules (create once, conditional updates, newest first, a job's mini-batches in index order).

#include "batch/job_record.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"

namespace berth::batch {
namespace {

using ::testing::ElementsAre;

Job FullJob(const std::string& name, int64_t created_at_ms) {
  Job job;
  job.name = name;
  job.endpoint = "ep1";
  job.deployment = "d1";
  job.status = core::JobStatus::kRunning;
  job.priority = core::JobPriority::kLow;
  job.compute = "cpu-cluster";
  job.experiment_name = "exp";
  job.description = "a job";
  job.tags = {{"k", "v"}};
  job.input.type = core::DataType::kUriFile;
  job.input.path = "./one.csv";
  job.input.artifact = core::ArtifactRef{"sha256:" + std::string(64, 'a'), "one.csv", true};
  job.input_host_path = "/data/artifacts/one.csv";
  job.output_uri = "azureml://datastores/workspaceblobstore/paths/azureml/" + name + "/score";
  job.output_host_path = "/data/datastores/workspaceblobstore/azureml/" + name + "/score";
  job.deployment_spec = {{"name", "d1"}, {"settings", {{"mini_batch_size", 3}}}};
  job.settings.instance_count = 2;
  job.settings.settings.mini_batch_size = 3;
  job.settings.settings.output_file_name = "out.csv";
  job.settings.settings.environment_variables = {{"A", "1"}};
  job.counts = {10, 4, 1, 50, 20, 5};
  job.errors = {{3, {"f3.csv", "f4.csv"}, 2, "ValueError: bad"}};
  job.error = "";
  job.created_at_ms = created_at_ms;
  job.started_at_ms = created_at_ms + 10;
  job.ended_at_ms = 0;
  return job;
}

TEST(JobRecordTest, JobRoundTrips) {
  Job job = FullJob("run-1", 1000);
  job.revision = 7;
  state::ResourceRecord record = ToRecord(job);
  EXPECT_EQ(record.kind, state::kResourceJob);
  EXPECT_EQ(record.key, "run-1");
  auto back = JobFromRecord(record);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, job);
}

TEST(JobRecordTest, MiniBatchRoundTripsAndKeysSortByIndex) {
  MiniBatch mini_batch{"run-1", 12, {"a.csv", "b.csv"}, MiniBatchState::kSucceeded, 3,
                       1,       1,  "ValueError: x",    "run7-worker1.out",         128,
                       40,      4};
  state::ResourceRecord record = ToRecord(mini_batch);
  EXPECT_EQ(record.key, "run-1/00000012");
  auto back = MiniBatchFromRecord(record);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, mini_batch);
  EXPECT_LT(MiniBatchKey("j", 9), MiniBatchKey("j", 10));
}

TEST(JobRecordTest, UnreadableDocumentIsAnError) {
  state::ResourceRecord record = ToRecord(FullJob("run-1", 1));
  record.doc["status"] = "Sleeping";
  EXPECT_FALSE(JobFromRecord(record).ok());
  record.doc.erase("input");
  EXPECT_FALSE(JobFromRecord(record).ok());
}

TEST(JobRepositoryTest, CreateUpdateListAndMiniBatches) {
  state::MemoryStateStore store;
  JobRepository jobs(store);
  ASSERT_TRUE(jobs.Create(FullJob("older", 1000)).ok());
  ASSERT_TRUE(jobs.Create(FullJob("newer", 2000)).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(jobs.Create(FullJob("older", 3000))));

  auto list = jobs.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "newer");
  EXPECT_EQ((*list)[1].name, "older");

  auto job = jobs.Get("older");
  ASSERT_TRUE(job.ok());
  Job stale = *job;
  job->status = core::JobStatus::kCompleted;
  auto revision = jobs.Update(*job);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_GT(*revision, stale.revision);
  EXPECT_TRUE(absl::IsAborted(jobs.Update(stale).status()));

  job = jobs.Get("older");
  ASSERT_TRUE(job.ok());
  MiniBatch second;
  second.job = "older";
  second.index = 1;
  second.files = {"b.csv"};
  MiniBatch first = second;
  first.index = 0;
  first.files = {"a.csv"};
  std::vector<MiniBatch> mini_batches = {second, first};
  auto committed = jobs.Commit(mini_batches, &*job);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_GT(*committed, job->revision);
  MiniBatch other = first;
  other.job = "newer";
  ASSERT_TRUE(jobs.Commit({other}, nullptr).ok());
  auto stored = jobs.MiniBatches("older");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].files, std::vector<std::string>{"a.csv"});
  EXPECT_EQ((*stored)[1].files, std::vector<std::string>{"b.csv"});
  EXPECT_TRUE(absl::IsNotFound(jobs.Get("absent").status()));
}

}  // namespace
}  // namespace berth::batch
