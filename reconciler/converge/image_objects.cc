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

Result<DesiredObject> built_image_object(Result<ImageRecipe> recipe, const std::string& base,
                                         const Host& host, const std::string& owner,
                                         const std::string& engine) {
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
  o.image.base = base;
  o.image.prepared = std::make_shared<const PreparedImage>(std::move(*prepared));
  return o;
}

Result<std::vector<DesiredObject>> agent_image_objects(const Host& h,
                                                       const std::string& project_root,
                                                       const std::vector<const Blueprint*>& bps) {
  std::vector<DesiredObject> out;
  if (bps.empty()) return out;
  if (!project_root.empty()) {
    auto base = built_image_object(
        agent_base_image_recipe(project_root, h.spec.base_image, h.spec.ca_files),
        h.spec.base_image, h, "Host/" + h.meta.name, "");
    if (!base) return base.error();
    out.push_back(std::move(*base));
  }
  for (const Blueprint* b : bps) {
    auto img = built_image_object(blueprint_image_recipe(*b, kAgentBaseImage), kAgentBaseImage, h,
                                  "Blueprint/" + b->meta.name, "");
    if (!img) return img.error();
    out.push_back(std::move(*img));
  }
  return out;
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
