// Moving images between engines without a registry: save on one, load on the other, leaving out
// the layers the other already has.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "engine/engine_api.h"

namespace acctl {

struct CopiedImages {
  std::vector<std::string> tags;  // the ones that had to move (their ids differed)
  int64_t bytes = 0;              // the size of the tar loaded into the destination
  int64_t bytes_read = 0;         // the size of the tar the source saved
  int layers_left_out = 0;        // layer files not loaded: the destination had their chains
  int64_t bytes_left_out = 0;     // their sizes
};

// Copies the tags whose image id on `to` differs from the one on `from`, in one tar written to
// `scratch` (removed afterwards, as is `scratch`.layer, where each layer waits while it is
// hashed). The save streams through a filter that leaves out every layer whose diff id occurs in
// the copied images only at positions where `to` already has the layer's chain: `docker load`
// then takes those layers from its store and never opens their files. Errors name the images and
// the step that failed.
Result<CopiedImages> copy_images(engine::EngineApi& from, engine::EngineApi& to,
                                 const std::vector<std::string>& tags, const std::string& scratch);

// The chain id of each prefix of `diff_ids` (bottom first), as the engine's layer store names
// layers: ChainID(L0) = DiffID(L0), ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
std::vector<std::string> layer_chain_ids(const std::vector<std::string>& diff_ids);

// "sha256:" and the hex sha256 of `bytes`.
std::string sha256_digest(std::string_view bytes);

// The diff ids of `sources`' layers that every position they occur at in them finds on the
// destination, which holds the chains `destination_chains`: the layers a load there never reads.
std::set<std::string> layers_the_destination_has(const std::vector<engine::ImageInfo>& sources,
                                                 const std::set<std::string>& destination_chains);

}  // namespace acctl
