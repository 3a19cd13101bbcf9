// How each kind of action is carried out: engine objects on the stage's engine, images
// (import, build, copy), files, gate reloads and waits for nested engines.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "converge/executor.h"
#include "converge/system.h"
#include "images/image_build.h"

namespace acctl {

// Networks, volumes and containers on one engine.
class EngineObjectSteps final : public StepRunner {
 public:
  EngineObjectSteps(engine::EngineApi& engine, int stop_timeout_seconds)
      : engine_(engine), stop_timeout_seconds_(stop_timeout_seconds) {}
  Result<std::string> run(const Action& action,
                          const std::function<void(const std::string&)>& progress) override;

 private:
  engine::EngineApi& engine_;
  int stop_timeout_seconds_;
};

// What the steps of one stage reach beyond its own engine.
struct StepContext {
  engine::EngineApi* engine = nullptr;  // the stage's
  // The engine a Host lives on: where images are copied from and a nested engine's host
  // container runs.
  std::function<engine::EngineApi*(const std::string& host)> host_engine;
  // Opens a connection to an engine endpoint (a nested engine, once it answers).
  std::function<Result<std::shared_ptr<engine::EngineApi>>(const std::string& endpoint)> connect;
  RootfsBootstrap bootstrap;  // for the base image
  const System* system = nullptr;
  std::string state_dir;
  std::chrono::milliseconds wait_timeout{120000};    // the command's --timeout, for messages
  std::chrono::steady_clock::time_point deadline{};  // when waits end
  int stop_timeout_seconds = 10;
};

// Every kind of action, for the pipeline.
class ConvergeSteps final : public StepRunner {
 public:
  explicit ConvergeSteps(StepContext context)
      : context_(std::move(context)), objects_(*context_.engine, context_.stop_timeout_seconds) {}
  Result<std::string> run(const Action& action,
                          const std::function<void(const std::string&)>& progress) override;

 private:
  Result<std::string> wait_for_engine(const Action& action,
                                      const std::function<void(const std::string&)>& progress);
  StepContext context_;
  EngineObjectSteps objects_;
};

}  // namespace acctl
