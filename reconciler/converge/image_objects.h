// Image objects of the desired state: the base image a Host names, images built FROM it, and
// images copied into a nested engine.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "converge/desired.h"
#include "images/image_build.h"
#include "manifest/model.h"

namespace acctl {

// The Host's base image when acctl can make it (acctl/debian:<suite>, imported from the
// debootstrap rootfs); nullopt for any other reference, which must already be on the engine.
std::optional<DesiredObject> base_image_object(const Host& host, const std::string& engine);

// An image built from `recipe` FROM `base` (an image on the same engine). Reads the build
// context now, so a plan knows whether the image is current. Errors: an unreadable context.
Result<DesiredObject> built_image_object(Result<ImageRecipe> recipe, const std::string& base,
                                         const Host& host, const std::string& owner,
                                         const std::string& engine);

// The images a Host's Sandboxes run, to build on its own engine: the agent base image (FROM
// the Host's base image, with its CAs) and each Blueprint's FROM that; with the base image
// itself when acctl makes it. Empty for no Blueprints. Errors: an unreadable context.
Result<std::vector<DesiredObject>> agent_image_objects(const Host& host,
                                                       const std::string& project_root,
                                                       const std::vector<const Blueprint*>& bps);

// An image brought into `engine` (a nested one) from the Host's own engine.
DesiredObject copied_image_object(const std::string& tag, const Host& host,
                                  const std::string& engine);

}  // namespace acctl
