// berth-bench-raw: the raw-model ceiling of benchmark B2. Loads a TorchScript file and calls
// forward() on a fixed [N, features] input in a loop, in-process, with one intra-op thread and
// InferenceMode, as a server could at best. Prints one JSON line per batch size:
//   {"batch":N,"calls":..,"inferences_per_s":..,"call_p50_us":..,"call_p99_us":..}
//
//   berth-bench-raw MODEL.pt FEATURES SECONDS [BATCH...]   (default batch: 1)
//
// Exceptions from libtorch end the program with a message: this is a measuring tool, not a
// server.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void Measure(torch::jit::script::Module& module, int64_t features, int64_t batch, double seconds) {
  torch::manual_seed(99);
  std::vector<torch::jit::IValue> inputs{torch::rand({batch, features})};
  for (int i = 0; i < 200; ++i) module.forward(inputs);  // warm-up: allocator, caches

  std::vector<double> call_us;
  call_us.reserve(1 << 20);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  Clock::time_point now = start;
  while (now < end) {
    const Clock::time_point before = now;
    torch::Tensor out = module.forward(inputs).toTensor();
    now = Clock::now();
    call_us.push_back(std::chrono::duration<double, std::micro>(now - before).count());
  }
  const double elapsed = std::chrono::duration<double>(now - start).count();
  std::sort(call_us.begin(), call_us.end());
  const auto pct = [&](double p) {
    return call_us[std::min(call_us.size() - 1, static_cast<size_t>(p * call_us.size()))];
  };
  std::printf(
      "{\"batch\":%lld,\"calls\":%zu,\"inferences_per_s\":%.1f,\"call_p50_us\":%.2f,"
      "\"call_p99_us\":%.2f}\n",
      static_cast<long long>(batch), call_us.size(),
      static_cast<double>(call_us.size()) * static_cast<double>(batch) / elapsed, pct(0.50),
      pct(0.99));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.pt FEATURES SECONDS [BATCH...]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int64_t features = std::atoll(argv[2]);
  const double seconds = std::atof(argv[3]);
  std::vector<int64_t> batches;
  for (int i = 4; i < argc; ++i) batches.push_back(std::atoll(argv[i]));
  if (batches.empty()) batches.push_back(1);

  at::set_num_threads(1);
  at::set_num_interop_threads(1);
  c10::InferenceMode guard;
  try {
    torch::jit::script::Module module = torch::jit::load(path);
    module.eval();
    for (int64_t batch : batches) Measure(module, features, batch, seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth-bench-raw: %s\n", e.what());
    return 1;
  }
  return 0;
}
