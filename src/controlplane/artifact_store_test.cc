// ArtifactStore::Put on tars built here: well-formed ones are stored, malformed ones are refused
// as bad input naming the entry, and leave nothing behind.

#include "controlplane/artifact_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/secrets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::controlplane {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct TarEntry {
  std::string name;
  bool folder = false;
  std::string contents;
};

std::string TarOf(const std::vector<TarEntry>& entries) {
  std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(),
                                                                 archive_write_free);
  // pax, as the CLI writes: names of any length.
  archive_write_set_format_pax_restricted(writer.get());
  std::string out(1024 * 1024, '\0');
  size_t used = 0;
  EXPECT_EQ(archive_write_open_memory(writer.get(), out.data(), out.size(), &used), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.name.c_str());
    archive_entry_set_filetype(entry.get(), e.folder ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), e.folder ? 0755 : 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.contents.size()));
    EXPECT_EQ(archive_write_header(writer.get(), entry.get()), ARCHIVE_OK)
        << archive_error_string(writer.get());
    archive_write_data(writer.get(), e.contents.data(), e.contents.size());
  }
  archive_write_close(writer.get());
  out.resize(used);
  return out;
}

std::string DigestOf(const std::string& tar) { return "sha256:" + auth::Sha256Hex(tar); }

class ArtifactStoreTest : public ::testing::Test {
 protected:
  ArtifactStoreTest() {
    std::string pattern = ::testing::TempDir() + "berth_artifacts_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store_ = std::make_unique<ArtifactStore>(dir_);
  }
  ~ArtifactStoreTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // What is left in the store's folder of artifacts (nothing for a refused tar).
  std::vector<std::string> Stored() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "artifacts" / "sha256", ec)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  // Puts a tar that must be refused as bad input; returns the message.
  std::string Refused(const std::vector<TarEntry>& entries) {
    const std::string tar = TarOf(entries);
    absl::Status put = store_->Put(DigestOf(tar), tar);
    EXPECT_EQ(put.code(), absl::StatusCode::kInvalidArgument) << put;
    EXPECT_FALSE(store_->Has(DigestOf(tar)));
    EXPECT_THAT(Stored(), IsEmpty());
    return std::string(put.message());
  }

  fs::path dir_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_F(ArtifactStoreTest, StoresAFolder) {
  const std::string tar =
      TarOf({{"sub", true, ""}, {"sub/w.txt", false, "weights"}, {"a.py", false, ""}});
  ASSERT_TRUE(store_->Put(DigestOf(tar), tar).ok());
  ASSERT_TRUE(store_->Has(DigestOf(tar)));
  std::ifstream in(store_->PathOf(DigestOf(tar)) / "sub" / "w.txt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "weights");
}

// A job's workers start together: each must find the model in place when its call returns, not
// a folder another call replaced meanwhile.
TEST_F(ArtifactStoreTest, ConcurrentMaterializationsLeaveEveryCallerAModel) {
  const std::string tar = TarOf({{"w.txt", false, "weights"}});
  ASSERT_TRUE(store_->Put(DigestOf(tar), tar).ok());
  core::ModelSpec model;
  model.name = "m";
  model.version = "1";
  model.artifact = core::ArtifactRef{DigestOf(tar), "model", false};
  std::atomic<int> missing{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto dir = store_->MaterializeModel(model);
      if (!dir.ok() || !fs::exists(*dir / "model" / "w.txt")) ++missing;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(missing, 0);
}

TEST_F(ArtifactStoreTest, AFileAndAFolderOfTheSameNameAreRefused) {
  EXPECT_EQ(Refused({{"model", false, "x"}, {"model", true, ""}}),
            "artifact entry 'model/' is a folder, but an earlier entry made it a file");
  EXPECT_EQ(Refused({{"model", true, ""}, {"model", false, "x"}}),
            "artifact entry 'model' is a file, but an earlier entry made it a folder");
  EXPECT_EQ(Refused({{"model/w.txt", false, "x"}, {"model", false, "y"}}),
            "artifact entry 'model' is a file, but an earlier entry made it a folder");
  EXPECT_THAT(Refused({{"model", false, "x"}, {"model/w.txt", false, "y"}}),
              HasSubstr("artifact entry 'model/w.txt' is inside 'model', which an earlier entry "
                        "made a file"));
  EXPECT_THAT(Refused({{"a/b", false, "x"}, {"a/b/c/d.txt", false, "y"}}),
              HasSubstr("artifact entry 'a/b/c/d.txt' is inside 'a/b'"));
}

TEST_F(ArtifactStoreTest, OverLongNamesAreRefused) {
  const std::string long_part(300, 'n');
  std::string message = Refused({{"model/" + long_part + ".txt", false, "x"}});
  EXPECT_THAT(message, HasSubstr("artifact entry 'model/nnnn"));
  EXPECT_THAT(message, HasSubstr("(310 bytes) has a file or folder name of 304 bytes; names may be "
                                 "at most 255 bytes"));

  std::string deep;
  for (int i = 0; i < 30; ++i) deep += std::string(100, 'd') + "/";
  deep += "w.txt";
  message = Refused({{deep, false, "x"}});
  EXPECT_THAT(message, HasSubstr("artifact entry 'dddd"));
  EXPECT_THAT(message, HasSubstr("paths in an artifact may be at most 2048 bytes"));

  // At the limits: stored.
  const std::string tar = TarOf({{std::string(255, 'x'), false, "x"}});
  EXPECT_TRUE(store_->Put(DigestOf(tar), tar).ok());
}

TEST_F(ArtifactStoreTest, EntriesEscapingTheFolderAreRefused) {
  EXPECT_THAT(Refused({{"../evil", false, "x"}}), HasSubstr("'../evil' escapes the folder"));
}

}  // namespace
}  // namespace berth::controlplane
