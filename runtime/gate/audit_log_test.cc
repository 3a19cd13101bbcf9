// Tests for audit lines: every field present, RFC 3339 time, hostile names kept valid JSON.
#include "gate/audit_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <vector>

namespace acctl::gate {
namespace {

const auto kTime =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'504'000'123));

// The line as nlohmann::json writes it, field by field: the format the log has always had.
std::string reference_line(const AuditRecord& record, std::chrono::system_clock::time_point time) {
  nlohmann::ordered_json line;
  line["time"] = rfc3339_utc(time);
  line["sandbox"] = record.sandbox;
  if (!record.policy.empty()) line["policy"] = record.policy;
  line["client"] = record.client;
  line["protocol"] = record.protocol;
  line["name"] = record.name;
  line["port"] = record.port;
  if (record.protocol == "dns") line["qtype"] = record.qtype;
  line["resolved"] = record.resolved;
  line["decision"] = record.allowed ? "allow" : "deny";
  line["reason"] = record.reason;
  if (!record.to_allow.empty()) line["toAllow"] = record.to_allow;
  line["bytesUp"] = record.bytes_up;
  line["bytesDown"] = record.bytes_down;
  line["durationMs"] = record.duration.count();
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

AuditRecord numbered(int i) {
  AuditRecord record;
  record.protocol = "dns";
  record.name = "name" + std::to_string(i) + ".test";
  record.reason = "allow name" + std::to_string(i) + ".test";
  return record;
}

TEST(GateAuditLog, FormatsRfc3339Utc) {
  EXPECT_EQ(rfc3339_utc(kTime), "2025-11-30T12:00:00.123Z");
}

TEST(GateAuditLog, OneJsonLinePerRecordWithEveryField) {
  AuditRecord record{"pi-1",
                     "default",
                     "172.20.0.7",
                     "connect",
                     "github.com",
                     443,
                     "140.82.121.3",
                     true,
                     "allow github.com",
                     "",
                     100,
                     2000,
                     std::chrono::milliseconds(1500)};
  const std::string line = format_audit_line(record, kTime);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["time"], "2025-11-30T12:00:00.123Z");
  EXPECT_EQ(json["sandbox"], "pi-1");
  EXPECT_EQ(json["policy"], "default");
  EXPECT_EQ(json["client"], "172.20.0.7");
  EXPECT_EQ(json["protocol"], "connect");
  EXPECT_EQ(json["name"], "github.com");
  EXPECT_EQ(json["port"], 443);
  EXPECT_EQ(json["resolved"], "140.82.121.3");
  EXPECT_EQ(json["decision"], "allow");
  EXPECT_EQ(json["reason"], "allow github.com");
  EXPECT_EQ(json["bytesUp"], 100);
  EXPECT_EQ(json["bytesDown"], 2000);
  EXPECT_EQ(json["durationMs"], 1500);
  EXPECT_FALSE(json.contains("qtype"));
}

TEST(GateAuditLog, HostileNamesStayOneValidLine) {
  AuditRecord record;
  record.protocol = "dns";
  record.name = "a\nb\"c\xff\xfe";
  const std::string line = format_audit_line(record, kTime);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["decision"], "deny");
  EXPECT_TRUE(json.contains("qtype"));
}

TEST(GateAuditLog, AppendsToTheFile) {
  const std::string path = ::testing::TempDir() + "/gate-audit-test.jsonl";
  std::remove(path.c_str());
  {
    AuditLog log;
    ASSERT_FALSE(log.open(path));
    log.write(AuditRecord{}, kTime);
    log.write(AuditRecord{}, kTime);
  }
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 2);
  AuditLog log;
  EXPECT_TRUE(log.open("/nonexistent/dir/audit.jsonl"));
}

TEST(GateAuditLog, LinesMatchNlohmannForHostileAndRandomText) {
  std::vector<std::string> texts = {"",
                                    "plain.test",
                                    "a\"b\\c",
                                    "tab\there\x01\x1f\x7f",
                                    "caf\xc3\xa9",
                                    "\xe2\x82",
                                    "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
                                    "\xff\xfe"};
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    std::string text(random() % 12, '\0');
    for (char& c : text) c = static_cast<char>(random() % 256);
    texts.push_back(text);
  }
  for (const std::string& text : texts) {
    AuditRecord record{"sb " + text,
                       "p " + text,
                       "10.0.0.1",
                       "http",
                       text,
                       80,
                       "",
                       false,
                       "deny " + text,
                       "add " + text,
                       1,
                       2,
                       std::chrono::milliseconds(-3)};
    EXPECT_EQ(format_audit_line(record, kTime), reference_line(record, kTime));
    record.protocol = "dns";
    record.qtype = 28;
    record.allowed = true;
    EXPECT_EQ(format_audit_line(record, kTime), reference_line(record, kTime));
  }
  // Milliseconds of 0 and 999, and a cached second followed by a new one.
  for (int64_t ms : {int64_t{1'764'504'000'000}, int64_t{1'764'504'000'999},
                     int64_t{1'764'504'001'005}, int64_t{0}}) {
    const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    const auto expected = nlohmann::json::parse(reference_line(AuditRecord{}, time))["time"];
    EXPECT_EQ(nlohmann::json::parse(format_audit_line(AuditRecord{}, time))["time"], expected);
  }
  EXPECT_EQ(rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(1'005))),
            "1970-01-01T00:00:01.005Z");
}

TEST(GateAuditLog, BatchesUntilFlushedInOrderWholeLines) {
  const std::string path = ::testing::TempDir() + "/gate-audit-batch-test.jsonl";
  std::remove(path.c_str());
  int scheduled = 0;
  std::string expected;
  {
    AuditLog log([&] { ++scheduled; });
    ASSERT_FALSE(log.open(path));
    for (int i = 0; i < 3; ++i) {
      log.write(numbered(i), kTime);
      expected += format_audit_line(numbered(i), kTime);
    }
    EXPECT_EQ(scheduled, 1);  // once per batch, not per line
    EXPECT_EQ(read_file(path), "");
    log.flush();
    EXPECT_EQ(read_file(path), expected);
    const std::string flushed = expected;
    log.write(numbered(3), kTime);
    expected += format_audit_line(numbered(3), kTime);
    EXPECT_EQ(scheduled, 2);  // a new batch
    EXPECT_EQ(read_file(path), flushed);
  }
  // Destruction writes the open batch.
  EXPECT_EQ(read_file(path), expected);
}

TEST(GateAuditLog, WritesABatchThatReachesTheSizeCap) {
  const std::string path = ::testing::TempDir() + "/gate-audit-cap-test.jsonl";
  std::remove(path.c_str());
  AuditLog log([] {});
  ASSERT_FALSE(log.open(path));
  std::string expected;
  int i = 0;
  while (expected.size() < AuditLog::kFlushBytes) {
    EXPECT_EQ(read_file(path), "");
    log.write(numbered(i), kTime);
    expected += format_audit_line(numbered(i), kTime);
    ++i;
  }
  // The line that reached the cap went out with the batch, complete.
  EXPECT_EQ(log.buffered(), 0u);
  EXPECT_EQ(read_file(path), expected);
}

TEST(GateAuditLog, ReopeningWritesTheBatchToTheOldFile) {
  const std::string first = ::testing::TempDir() + "/gate-audit-reopen-1.jsonl";
  const std::string second = ::testing::TempDir() + "/gate-audit-reopen-2.jsonl";
  std::remove(first.c_str());
  std::remove(second.c_str());
  AuditLog log([] {});
  ASSERT_FALSE(log.open(first));
  log.write(numbered(1), kTime);
  ASSERT_FALSE(log.open(second));
  log.write(numbered(2), kTime);
  log.flush();
  EXPECT_EQ(read_file(first), format_audit_line(numbered(1), kTime));
  EXPECT_EQ(read_file(second), format_audit_line(numbered(2), kTime));
}

TEST(GateAuditLog, WithoutASchedulerEveryLineIsWrittenAtOnce) {
  const std::string path = ::testing::TempDir() + "/gate-audit-unbatched-test.jsonl";
  std::remove(path.c_str());
  AuditLog log;
  ASSERT_FALSE(log.open(path));
  log.write(numbered(1), kTime);
  EXPECT_EQ(read_file(path), format_audit_line(numbered(1), kTime));
}

}  // namespace
}  // namespace acctl::gate

namespace acctl::gate {
namespace {

TEST(AuditThrottle, RefusalsBeyondTheBurstAreCountedAndReportedWithTheNextLine) {
  AuditThrottle t(/*per_second=*/1, /*burst=*/3);
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.admit("10.0.0.2", false, t0).write);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(t.admit("10.0.0.2", false, t0).write);
  EXPECT_EQ(t.suppressed_total(), 5u);
  // Another client is not held back by this one.
  EXPECT_TRUE(t.admit("10.0.0.3", false, t0).write);
  // An allowed decision always goes, and carries the count first.
  AuditThrottle::Verdict v = t.admit("10.0.0.2", true, t0);
  EXPECT_TRUE(v.write);
  EXPECT_EQ(v.suppressed_before, 5u);
  EXPECT_EQ(t.admit("10.0.0.2", true, t0).suppressed_before, 0u);
  // A second later one more refusal fits.
  EXPECT_FALSE(t.admit("10.0.0.2", false, t0).write);
  v = t.admit("10.0.0.2", false, t0 + std::chrono::milliseconds(1100));
  EXPECT_TRUE(v.write);
  EXPECT_EQ(v.suppressed_before, 1u);
}

TEST(AuditLine, LongNamesAndReasonsAreCutSayingByHowMuch) {
  AuditRecord r;
  r.protocol = "http";
  r.name = std::string(70000, 'a');
  r.reason = "not-allowed " + std::string(1000, 'b');
  const std::string line = format_audit_line(r, std::chrono::system_clock::time_point{});
  EXPECT_LT(line.size(), 1200u);
  EXPECT_NE(line.find(std::string(kAuditMaxName, 'a') + "...[+" +
                      std::to_string(70000 - kAuditMaxName) + " bytes]"),
            std::string::npos);
  EXPECT_NE(line.find("...[+500 bytes]"), std::string::npos);
}

}  // namespace
}  // namespace acctl::gate
