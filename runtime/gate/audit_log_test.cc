// Tests for audit lines: every field present, RFC 3339 time, hostile names kept valid JSON.
#include "gate/audit_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace acctl::gate {
namespace {

const auto kTime =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'504'000'123));

TEST(GateAuditLog, FormatsRfc3339Utc) {
  EXPECT_EQ(rfc3339_utc(kTime), "2025-11-30T12:00:00.123Z");
}

TEST(GateAuditLog, OneJsonLinePerRecordWithEveryField) {
  AuditRecord record{"pi-1",
                     "172.20.0.7",
                     "connect",
                     "github.com",
                     443,
                     "140.82.121.3",
                     true,
                     "allow github.com",
                     100,
                     2000,
                     std::chrono::milliseconds(1500)};
  const std::string line = format_audit_line(record, kTime);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["time"], "2025-11-30T12:00:00.123Z");
  EXPECT_EQ(json["sandbox"], "pi-1");
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

}  // namespace
}  // namespace acctl::gate
