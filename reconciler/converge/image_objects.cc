// The image objects of image_objects.h.
#include "converge/image_objects.h"

namespace acctl {

std::optional<DesiredObject> base_image_object(const Host& host, const std::string& engine) {
  const std::string suite = suite_of_base_image(host.spec.base_image);
  if (suite.empty()) return std::nullopt;
  DesiredObject o;
  o.type = ObjectType::kImage;
  o.name = host.spec.base_image;
  o.owner = "Host/" + host.meta.name;
  o.host = host.meta.name;
  o.engine = engine;
  o.image.source = ImageSource::kImport;
  o.image.suite = suite;
  return o;
}

Result<DesiredObject> built_image_object(Result<ImageRecipe> recipe, const Host& host,
                                         const std::string& owner, const std::string& engine) {
  if (!recipe) return recipe.error();
  auto prepared = prepare_image(std::move(*recipe));
  if (!prepared) return prepared.error();
  DesiredObject o;
  o.type = ObjectType::kImage;
  o.name = prepared->recipe.tag;
  o.owner = owner;
  o.host = host.meta.name;
  o.engine = engine;
  o.image.source = ImageSource::kBuild;
  o.image.base = host.spec.base_image;
  o.image.prepared = std::make_shared<const PreparedImage>(std::move(*prepared));
  return o;
}

DesiredObject copied_image_object(const std::string& tag, const Host& host,
                                  const std::string& engine) {
  DesiredObject o;
  o.type = ObjectType::kImage;
  o.name = tag;
  o.owner = "Host/" + host.meta.name;
  o.host = host.meta.name;
  o.engine = engine;
  o.image.source = ImageSource::kCopy;
  o.image.from_engine = "";  // the Host's own engine
  return o;
}

}  // namespace acctl
