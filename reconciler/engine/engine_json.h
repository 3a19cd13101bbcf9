// Mapping between the engine's JSON documents and acctl's plain structs; nlohmann stays in the .cc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_api.h"
#include "engine/result.h"

namespace acctl::engine::json {

// Request bodies.
std::string container_create_body(const ContainerSpec& spec);
std::string resource_update_body(const ResourceUpdate& update);
std::string network_create_body(const NetworkSpec& spec);
std::string network_connect_body(const std::string& container, const std::string& ipv4,
                                 const std::vector<std::string>& aliases);
std::string network_disconnect_body(const std::string& container, bool force);
std::string volume_create_body(const VolumeSpec& spec);
std::string exec_create_body(const ExecSpec& spec);
std::string exec_start_body(bool tty);  // attached, not detached
std::string labels_json(const Labels& labels);
std::string string_map_json(const std::map<std::string, std::string>& map);
// A JSON string literal, which Dockerfile instructions (LABEL "k"="v") also accept.
std::string quote(const std::string& text);

// Replies. A reply that is not the JSON expected is an Error (status 0).
Result<VersionInfo> parse_version(std::string_view body);  // GET /version (no runtimes)
// Adds runtimes and the default runtime from GET /info.
Status parse_info(std::string_view body, VersionInfo& into);
Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body);
Result<ContainerInfo> parse_container_inspect(std::string_view body);
Result<std::string> parse_created_id(std::string_view body);  // {"Id": …}
Result<int> parse_wait(std::string_view body);
Result<std::vector<NetworkInfo>> parse_network_list(std::string_view body);
Result<NetworkInfo> parse_network_inspect(std::string_view body);
Result<std::vector<VolumeInfo>> parse_volume_list(std::string_view body);
Result<VolumeInfo> parse_volume(std::string_view body);
Result<std::vector<ImageInfo>> parse_image_list(std::string_view body);
Result<ImageInfo> parse_image_inspect(std::string_view body);
Result<Event> parse_event(std::string_view line);
Result<ContainerStats> parse_stats(std::string_view body);
Result<DiskUsage> parse_disk_usage(std::string_view body);
Result<ExecInfo> parse_exec_inspect(std::string_view body);

// One JSON line of build or import progress.
struct ProgressParse {
  ProgressLine line;
  std::string error;     // errorDetail.message / error, when the step failed
  std::string image_id;  // aux.ID of a build, or the final status of an import
};
ProgressParse parse_progress(std::string_view line);

// The engine's {"message": …} error body, or the body itself when it is not that.
std::string error_message(std::string_view body);

}  // namespace acctl::engine::json
