#pragma once
// Test support for the backends: model files and the frameworks' own outputs, made at test time
// by a Python script run with Debian's interpreter (BERTH_PYTHON), in a temporary folder.

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#ifndef BERTH_PYTHON
#define BERTH_PYTHON "/usr/bin/python3"
#endif

namespace berth::worker::testing {

// A fresh folder `<tmp>/<prefix><random>` with `subfolders` in it, where `script` runs as
// `BERTH_PYTHON generate.py <folder>`. ok() says whether the script exited 0. The folder is
// removed on destruction.
class GeneratedModels {
 public:
  GeneratedModels(std::string_view prefix, std::string_view script,
                  std::initializer_list<const char*> subfolders = {}) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           (std::string(prefix) + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    for (const char* sub : subfolders) std::filesystem::create_directories(dir_ / sub);
    std::filesystem::path file = dir_ / "generate.py";
    std::ofstream(file) << script;
    std::string command = std::string(BERTH_PYTHON) + " " + file.string() + " " + dir_.string();
    ok_ = std::system(command.c_str()) == 0;
  }
  ~GeneratedModels() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  GeneratedModels(const GeneratedModels&) = delete;
  GeneratedModels& operator=(const GeneratedModels&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  bool ok() const { return ok_; }

 private:
  std::filesystem::path dir_;
  bool ok_ = false;
};

// A file of little-endian float32 values, as numpy's tofile() writes them.
inline std::vector<float> ReadFloats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

}  // namespace berth::worker::testing
