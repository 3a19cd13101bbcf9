// Sandbox addresses on a Host's internal network, assigned by acctl rather than by the engine:
// the gate tells sandboxes apart by address, so an address must stay with its sandbox.
#pragma once

#include "common/result.h"
#include "converge/desired.h"
#include "converge/observed.h"

namespace acctl {

// For every container with an AddressRequest: the address it holds now on that network, when
// it has one inside the subnet; otherwise the lowest address of the subnet that nothing holds
// and that is not the network's own, its gateway (the first host address), its broadcast or a
// reserved one. New containers are served in name order, so the result depends only on the
// desired and observed states. Sets container.ipv4_address. Errors: a subnet with no free
// address, or one that is not IPv4.
Status assign_addresses(DesiredState& desired, const ObservedState& observed);

}  // namespace acctl
