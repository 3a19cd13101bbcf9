// Tests of copy_images between two fake engines whose saves and loads are real docker-save tars:
// which layers a copy leaves out, what the destination is given, and that it loads.
#include "images/image_copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "fakes/fake_engine.h"

namespace acctl {
namespace {

namespace fs = std::filesystem;
using engine::FakeEngine;

// The bytes of a layer tar: what they are does not matter to a copy, only their sha256.
std::string layer(const std::string& seed, size_t size = 3000) {
  std::string out;
  uint32_t x = 2166136261u;
  for (char c : seed) x = (x ^ static_cast<unsigned char>(c)) * 16777619u;
  while (out.size() < size) {
    x = x * 1103515245u + 12345u;
    out += static_cast<char>(x >> 24);
  }
  return out;
}

struct Member {
  int type = AE_IFREG;
  std::string content;  // a file's bytes, a symlink's target
};

std::map<std::string, Member> members(const std::string& tar) {
  std::map<std::string, Member> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Member m;
    m.type = archive_entry_filetype(e);
    if (m.type == AE_IFLNK) m.content = archive_entry_symlink(e);
    m.content.resize(m.type == AE_IFREG ? static_cast<size_t>(archive_entry_size(e)) : 0);
    if (m.type == AE_IFREG && !m.content.empty())
      archive_read_data(a, m.content.data(), m.content.size());
    out[archive_entry_pathname(e)] = m;
  }
  archive_read_free(a);
  return out;
}

// The diff ids of the layer files a tar carries (symlinks to them not counted).
std::multiset<std::string> layer_files(const std::string& tar) {
  std::multiset<std::string> out;
  for (const auto& [path, m] : members(tar))
    if (m.type == AE_IFREG && path.ends_with("layer.tar")) out.insert(sha256_digest(m.content));
  return out;
}

std::string saved(FakeEngine& engine, const std::vector<std::string>& refs) {
  std::string out;
  EXPECT_TRUE(engine
                  .save_images(refs,
                               [&](std::string_view b) {
                                 out.append(b);
                                 return true;
                               })
                  .ok());
  return out;
}

class ImageCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("acctl-image-copy-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    scratch_ = (dir_ / "state" / "images.tar").string();
  }
  void TearDown() override {
    // The scratch tar and the layer being hashed are gone, whatever happened.
    EXPECT_FALSE(fs::exists(scratch_));
    EXPECT_FALSE(fs::exists(scratch_ + ".layer"));
    fs::remove_all(dir_);
  }
  Result<CopiedImages> copy(const std::vector<std::string>& tags) {
    return copy_images(src_, dst_, tags, scratch_);
  }
  void expect_same_image(const std::string& tag) {
    auto a = src_.inspect_image(tag);
    auto b = dst_.inspect_image(tag);
    ASSERT_TRUE(a.ok() && b.ok()) << tag;
    EXPECT_EQ(a->id, b->id) << tag;
    EXPECT_EQ(a->layers, b->layers) << tag;
  }

  FakeEngine src_, dst_;
  fs::path dir_;
  std::string scratch_;
};

TEST(LayerChainIds, FollowTheEnginesDefinition) {
  // sha256("sha256:aa sha256:bb"), then sha256 of that id, a space and "sha256:cc".
  EXPECT_EQ(
      layer_chain_ids({"sha256:aa", "sha256:bb", "sha256:cc"}),
      (std::vector<std::string>{
          "sha256:aa", "sha256:b68ad689d6d1ec110ea1c13617437ad6f3766d4b3b309f6a603a222e07a0164f",
          "sha256:ced946a3b9b1c697ead0fa9bf9ad36e03198566077f3950076f64a4760acde1b"}));
  EXPECT_TRUE(layer_chain_ids({}).empty());
}

TEST(LayersTheDestinationHas, NeedEveryPositionsChain) {
  engine::ImageInfo img;
  img.layers = {"sha256:a", "sha256:b", "sha256:a"};
  const auto chains = layer_chain_ids(img.layers);
  // Only the first two chains: `a` is also needed at the third position, so it stays.
  EXPECT_EQ(layers_the_destination_has({img}, {chains[0], chains[1]}),
            (std::set<std::string>{"sha256:b"}));
  EXPECT_EQ(layers_the_destination_has({img}, {chains.begin(), chains.end()}),
            (std::set<std::string>{"sha256:a", "sha256:b"}));
  EXPECT_TRUE(layers_the_destination_has({img}, {}).empty());
}

TEST_F(ImageCopy, AnEmptyDestinationGetsTheSaveAsItIs) {
  src_.add_image_with_layers("acctl/a", {layer("base"), layer("a")});
  auto c = copy({"acctl/a:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tags, std::vector<std::string>{"acctl/a:latest"});
  EXPECT_EQ(c->layers_left_out, 0);
  EXPECT_EQ(c->bytes, c->bytes_read);
  ASSERT_EQ(dst_.loaded_tars().size(), 1u);
  EXPECT_EQ(dst_.loaded_tars()[0], saved(src_, {"acctl/a:latest"}));
  expect_same_image("acctl/a:latest");
}

TEST_F(ImageCopy, SharedLayersCrossOnce) {
  const std::string base = layer("base", 20000), a = layer("a", 9000), b = layer("b", 5000);
  src_.add_image_with_layers("acctl/a", {base, a});
  src_.add_image_with_layers("acctl/b", {base, a, b});
  ASSERT_TRUE(copy({"acctl/a:latest"}).ok());

  auto c = copy({"acctl/b:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tags, std::vector<std::string>{"acctl/b:latest"});
  EXPECT_EQ(c->layers_left_out, 2);
  EXPECT_EQ(c->bytes_left_out, static_cast<int64_t>(base.size() + a.size()));
  EXPECT_LT(c->bytes, c->bytes_read - static_cast<int64_t>(base.size() + a.size()) + 512);
  // The destination was given b's own layer only, and everything else of the save.
  const std::string whole = saved(src_, {"acctl/b:latest"});
  const std::string given = dst_.loaded_tars().back();
  EXPECT_EQ(layer_files(given), (std::multiset<std::string>{sha256_digest(b)}));
  std::set<std::string> expected, got;
  for (const auto& [path, m] : members(whole)) {
    const std::string d = m.type == AE_IFREG ? sha256_digest(m.content) : "";
    if (d != sha256_digest(base) && d != sha256_digest(a)) expected.insert(path);
  }
  for (const auto& [path, m] : members(given)) got.insert(path);
  EXPECT_EQ(got, expected);
  const auto whole_members = members(whole);
  for (const auto& [path, m] : members(given))
    EXPECT_EQ(m.content, whole_members.at(path).content) << path;
  expect_same_image("acctl/b:latest");
  expect_same_image("acctl/a:latest");

  // Copied again: the ids agree, nothing moves.
  auto again = copy({"acctl/a:latest", "acctl/b:latest"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->tags.empty());
  EXPECT_EQ(dst_.loaded_tars().size(), 2u);
}

TEST_F(ImageCopy, TwoImagesInOneSaveShareTheirBaseWithTheDestination) {
  const std::string base = layer("base");
  dst_.add_image_with_layers("acctl/debian", {base});
  src_.add_image_with_layers("acctl/debian", {base});
  src_.add_image_with_layers("acctl/x", {base, layer("x")});
  src_.add_image_with_layers("acctl/y", {base, layer("y")});
  auto c = copy({"acctl/x:latest", "acctl/y:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->layers_left_out, 1);
  EXPECT_EQ(layer_files(dst_.loaded_tars().back()),
            (std::multiset<std::string>{sha256_digest(layer("x")), sha256_digest(layer("y"))}));
  expect_same_image("acctl/x:latest");
  expect_same_image("acctl/y:latest");
}

TEST_F(ImageCopy, ARepeatedLayerStaysWhenOneOfItsPositionsLacksItsChain) {
  const std::string l0 = layer("zero"), l1 = layer("one");
  // l0 at positions 0 and 2; the destination has the chain of 0 and 1, not of 0..2.
  src_.add_image_with_layers("acctl/r", {l0, l1, l0});
  dst_.add_image_with_layers("acctl/base", {l0, l1});
  // The save writes l0 once; its second position is a symlink to the first's layer.tar.
  int links = 0;
  for (const auto& [path, m] : members(saved(src_, {"acctl/r"}))) links += m.type == AE_IFLNK;
  EXPECT_EQ(links, 1);

  auto c = copy({"acctl/r:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->layers_left_out, 1);
  EXPECT_EQ(layer_files(dst_.loaded_tars().back()),
            (std::multiset<std::string>{sha256_digest(l0)}));
  expect_same_image("acctl/r:latest");
}

TEST_F(ImageCopy, ARepeatedLayerGoesWhenEveryPositionHasItsChain) {
  const std::string l0 = layer("zero"), l1 = layer("one");
  src_.add_image_with_layers("acctl/r", {l0, l1, l0});
  dst_.add_image_with_layers("acctl/longer", {l0, l1, l0, layer("three")});
  auto c = copy({"acctl/r:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  // Both files go; the symlink to the first stays, dangling, and is never opened.
  EXPECT_EQ(c->layers_left_out, 2);
  EXPECT_TRUE(layer_files(dst_.loaded_tars().back()).empty());
  expect_same_image("acctl/r:latest");
}

TEST_F(ImageCopy, ADestinationWithOtherLayersOnlyGetsEverything) {
  const std::string l0 = layer("zero"), l1 = layer("one");
  src_.add_image_with_layers("acctl/a", {l0, l1});
  // The same bytes on the destination, but above another layer: another chain.
  dst_.add_image_with_layers("acctl/other", {layer("other"), l0, l1});
  auto c = copy({"acctl/a:latest"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->layers_left_out, 0);
  EXPECT_EQ(c->bytes, c->bytes_read);
  EXPECT_EQ(layer_files(dst_.loaded_tars().back()),
            (std::multiset<std::string>{sha256_digest(l0), sha256_digest(l1)}));
  expect_same_image("acctl/a:latest");
}

// A save laid out by another writer: libarchive's GNU tar (././@LongLink names) or pax (path
// records), with layer folders whose names need them.
std::string foreign_save(int format, const std::vector<std::string>& layers,
                         const std::string& config_name, std::string& config) {
  std::map<std::string, std::string> files;
  std::string diff_ids, paths;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string path = "layers/" + std::string(160, 'd') + "-" + std::to_string(i) +
                             "/layer-with-a-long-folder/layer.tar";
    files[path] = layers[i];
    diff_ids += (i ? "," : "") + ("\"" + sha256_digest(layers[i]) + "\"");
    paths += (i ? "," : "") + ("\"" + path + "\"");
  }
  config = R"({"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z",)"
           R"("config":{"Labels":{"ac.kind":"Blueprint"}},"rootfs":{"type":"layers","diff_ids":[)" +
           diff_ids + "]}}";
  const std::string config_file = sha256_digest(config).substr(7) + ".json";
  files[config_file] = config;
  files["manifest.json"] = R"([{"Config":")" + config_file + R"(","RepoTags":[")" + config_name +
                           R"("],"Layers":[)" + paths + "]}]";
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format(a, format);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* o, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(o)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [path, content] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    EXPECT_GE(archive_write_header(a, e), ARCHIVE_WARN) << archive_error_string(a);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void copy_a_foreign_save(int format, const std::string& long_name_marker) {
  FakeEngine src, dst;
  const std::string base = layer("base", 7000), top = layer("top", 2600);
  std::string config;
  const std::string tar = foreign_save(format, {base, top}, "acctl/long:latest", config);
  ASSERT_NE(tar.find(long_name_marker), std::string::npos);  // the names need the extension
  // The source holds what the tar holds; its next save is that very tar.
  ASSERT_TRUE(src.load_images(engine::source_from_string(tar), {}).ok());
  src.replace_next_save(tar);
  dst.add_image_with_layers("acctl/base", {base});
  const fs::path dir =
      fs::temp_directory_path() / ("acctl-image-copy-" + std::to_string(getpid()) + "-foreign");
  auto c = copy_images(src, dst, {"acctl/long:latest"}, (dir / "images.tar").string());
  fs::remove_all(dir);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->layers_left_out, 1);
  EXPECT_EQ(c->bytes_left_out, 7000);
  const auto given = members(dst.loaded_tars().back());
  EXPECT_EQ(layer_files(dst.loaded_tars().back()),
            (std::multiset<std::string>{sha256_digest(top)}));
  EXPECT_TRUE(
      given.count("layers/" + std::string(160, 'd') + "-1/layer-with-a-long-folder/layer.tar"));
  auto image = dst.inspect_image("acctl/long:latest");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->id, sha256_digest(config));
  EXPECT_EQ(image->labels.at("ac.kind"), "Blueprint");
  EXPECT_EQ(image->layers, (std::vector<std::string>{sha256_digest(base), sha256_digest(top)}));
}

TEST(ImageCopyForeignSave, GnuLongNames) {
  copy_a_foreign_save(ARCHIVE_FORMAT_TAR_GNUTAR, "././@LongLink");
}

TEST(ImageCopyForeignSave, PaxHeaders) {
  copy_a_foreign_save(ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, " path=layers/ddd");
}

TEST_F(ImageCopy, AnImageThatChangedUnderTheCopyIsNotLoaded) {
  const std::string l0 = layer("zero"), l1 = layer("one");
  src_.add_image_with_layers("acctl/a", {l0, l1});
  dst_.add_image_with_layers("acctl/a-old", {l0, l1});
  src_.add_image_with_layers("acctl/a", {l0, l1, layer("two")});
  // Between the inspection and the save the tag moved to an image with the layers swapped: the
  // chain of l0 above l1 is not on the destination.
  FakeEngine other;
  other.add_image_with_layers("acctl/a", {l1, l0});
  src_.replace_next_save(saved(other, {"acctl/a"}));
  auto c = copy({"acctl/a:latest"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("copying acctl/a:latest"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("changed while it was copied"), std::string::npos)
      << c.error().message;
  EXPECT_TRUE(dst_.loaded_tars().empty());
}

TEST_F(ImageCopy, AFailedSaveNamesTheImagesAndLoadsNothing) {
  const std::string l0 = layer("zero");
  src_.add_image_with_layers("acctl/a", {l0, layer("one")});
  dst_.add_image_with_layers("acctl/base", {l0});
  src_.fail("save_images", Error{500, "disk trouble"});
  auto c = copy({"acctl/a:latest"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "copying acctl/a:latest: saving from the source: disk trouble");
  EXPECT_TRUE(dst_.loaded_tars().empty());
}

TEST_F(ImageCopy, ASaveCutShortLoadsNothing) {
  const std::string l0 = layer("zero", 9000);
  src_.add_image_with_layers("acctl/a", {l0, layer("one", 9000)});
  dst_.add_image_with_layers("acctl/base", {l0});
  const std::string whole = saved(src_, {"acctl/a"});
  src_.replace_next_save(whole.substr(0, 6000));
  auto c = copy({"acctl/a:latest"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("copying acctl/a:latest"), std::string::npos);
  EXPECT_TRUE(dst_.loaded_tars().empty());
}

TEST_F(ImageCopy, AFailedLoadNamesTheImages) {
  const std::string l0 = layer("zero");
  src_.add_image_with_layers("acctl/a", {l0, layer("one")});
  dst_.add_image_with_layers("acctl/base", {l0});
  dst_.fail("load_images", Error{500, "no space left on device"});
  auto c = copy({"acctl/a:latest"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "copying acctl/a:latest: loading into the destination: no space left on device");
}

TEST_F(ImageCopy, ADestinationThatCannotListIsAnError) {
  src_.add_image_with_layers("acctl/a", {layer("zero")});
  dst_.fail("list_images", Error{500, "busy"});
  auto c = copy({"acctl/a:latest"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "copying acctl/a:latest: listing the destination's images: busy");
}

}  // namespace
}  // namespace acctl
