// CurlEngine without an engine: what a user sees when dockerd is not there.
#include "engine/curl_engine.h"

#include <gtest/gtest.h>

namespace acctl::engine {
namespace {

TEST(CurlEngineConnect, SaysWhereItLookedAndWhatToDo) {
  EngineOptions o;
  o.host = "unix:///nonexistent/acctl-test.sock";
  auto e = CurlEngine::connect(o);
  ASSERT_FALSE(e.ok());
  const std::string& m = e.error().message;
  EXPECT_NE(m.find("cannot connect to the Docker engine at unix:///nonexistent/acctl-test.sock"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("is dockerd running?"), std::string::npos) << m;
  EXPECT_FALSE(e.not_found());
}

TEST(CurlEngineConnect, RefusesAnUnusableAddressBeforeConnecting) {
  EngineOptions o;
  o.host = "ssh://me@host";
  auto e = CurlEngine::connect(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("scheme ssh"), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace acctl::engine
