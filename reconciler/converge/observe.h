// Reading what acctl manages from an engine: the observed half of every plan.
#pragma once

#include "converge/desired.h"
#include "converge/plan.h"
#include "engine/engine_api.h"
#include "engine/result.h"

namespace acctl {

// Lists every managed network, volume and container (inspecting containers for their live
// limits and image), the ids of the images `desired` uses, and which names `desired` wants
// that unmanaged objects already hold. Calls run on up to `parallel` threads.
engine::Result<ObservedState> observe(engine::EngineApi& engine, const DesiredState& desired,
                                      int parallel);

}  // namespace acctl
