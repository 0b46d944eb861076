// DataPlane as a RoutingSink: runtime objects built from plain snapshots, kept for what stays,
// dropped for what leaves; in-flight counts survive an instance leaving until it drains.

#include "gateway/data_plane.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

class FixedRandom final : public RandomSource {
 public:
  uint64_t Next() override { return 0; }
};

std::shared_ptr<RoutingSnapshot> Snapshot(std::vector<InstanceAddress> ready,
                                          const std::string& deployment = "Blue") {
  auto d = std::make_shared<DeploymentRouting>();
  d->name = deployment;
  d->request_settings.max_concurrent_requests_per_instance = 2;
  d->ready = std::move(ready);
  auto e = std::make_shared<EndpointRouting>();
  e->name = "Ep";
  e->primary_key = "k1";
  e->traffic = {{deployment, 100}};
  e->deployments[NameKey(deployment)] = d;
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints[NameKey("Ep")] = e;
  return snapshot;
}

InstanceAddress Address(int64_t id, uint64_t incarnation, int port) {
  InstanceAddress a;
  a.id = id;
  a.incarnation = incarnation;
  a.port = port;
  return a;
}

class DataPlaneSinkTest : public ::testing::Test {
 protected:
  std::shared_ptr<const DeploymentRoute> Blue() {
    auto table = data_plane_.Table();
    auto e = table->find("Ep");
    if (e == table->end()) return nullptr;
    auto d = e->second->deployments.find("Blue");
    return d == e->second->deployments.end() ? nullptr : d->second;
  }

  http::asio::io_context io_;
  FixedRandom random_;
  Metrics metrics_;
  DataPlane data_plane_{SystemClock::Get(), random_, metrics_, io_.get_executor()};
};

TEST_F(DataPlaneSinkTest, BuildsTheTableAndKeepsRuntimeObjectsAcrossSnapshots) {
  data_plane_.Publish(Snapshot({Address(1, 7, 5001)}));
  auto first = Blue();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->ready.size(), 1u);
  EXPECT_EQ(first->ready[0].port, 5001);
  ASSERT_TRUE(first->gate && first->mirror_queue && first->ready[0].pool);
  EXPECT_EQ(data_plane_.Table()->at("Ep")->primary_key, "k1");
  ASSERT_TRUE(data_plane_.Table()->at("Ep")->splitter.has_value());

  // Same instance, same incarnation, plus a new one: gate, queue and the pool are kept.
  data_plane_.Publish(Snapshot({Address(1, 7, 5001), Address(2, 8, 5002)}));
  auto second = Blue();
  EXPECT_EQ(second->gate, first->gate);
  EXPECT_EQ(second->mirror_queue, first->mirror_queue);
  EXPECT_EQ(second->ready[0].pool, first->ready[0].pool);
  EXPECT_EQ(second->ready[0].outstanding, first->ready[0].outstanding);
  EXPECT_EQ(second->ready[1].port, 5002);

  // A restarted instance (new incarnation, new port) gets a new pool.
  data_plane_.Publish(Snapshot({Address(1, 9, 5003)}));
  auto third = Blue();
  EXPECT_NE(third->ready[0].pool, first->ready[0].pool);
  EXPECT_EQ(third->ready[0].pool->port(), 5003);

  // A deployment that left and came back starts afresh.
  data_plane_.Publish(std::make_shared<RoutingSnapshot>());
  EXPECT_EQ(Blue(), nullptr);
  data_plane_.Publish(Snapshot({Address(1, 9, 5003)}));
  EXPECT_NE(Blue()->gate, first->gate);
}

TEST_F(DataPlaneSinkTest, InFlightCountsADrainingInstanceUntilItIsDone) {
  data_plane_.Publish(Snapshot({Address(1, 1, 5001), Address(2, 2, 5002)}));
  auto blue = Blue();
  blue->ready[0].outstanding->fetch_add(2);  // two requests on their way to instance 1
  EXPECT_EQ(data_plane_.InFlight("ep", "blue", 1), 2);
  EXPECT_EQ(data_plane_.InFlight("EP", "BLUE", 2), 0);
  // Instance 1 leaves rotation (stopping): still counted while its answers are owed.
  data_plane_.Publish(Snapshot({Address(2, 2, 5002)}));
  EXPECT_EQ(data_plane_.InFlight("ep", "blue", 1), 2);
  blue->ready[0].outstanding->fetch_sub(2);
  EXPECT_EQ(data_plane_.InFlight("ep", "blue", 1), 0);
  data_plane_.Publish(Snapshot({Address(2, 2, 5002)}));
  EXPECT_EQ(data_plane_.InFlight("ep", "blue", 1), 0);
  EXPECT_EQ(data_plane_.InFlight("ep", "nope", 1), 0);
}

}  // namespace
}  // namespace berth::gateway
