// Rules that span documents or the machine, checked by validate like every other rule rather
// than first found by apply: one gate policy per dind Host, where a dind Host's engine must
// be, how long its nested engine's socket path gets.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "manifest/diagnostics.h"
#include "manifest/document.h"
#include "manifest/manifest.h"
#include "manifest/model.h"

namespace acctl {

// `documents` maps (kind, name) to the document that defined it, for positions.
void check_across_documents(
    const Model& model,
    const std::map<std::pair<std::string, std::string>, const Document*>& documents,
    const ManifestOptions& options, Diagnostics& out);

}  // namespace acctl
