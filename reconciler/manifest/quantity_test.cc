// Tests of size and CPU parsing, as users write them and as Docker reads them.
#include "manifest/quantity.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace acctl {
namespace {

using nlohmann::json;

int64_t size_of(const json& v) {
  auto r = parse_size(v);
  EXPECT_TRUE(std::holds_alternative<int64_t>(r)) << v.dump() << ": " << std::get<std::string>(r);
  return std::holds_alternative<int64_t>(r) ? std::get<int64_t>(r) : -1;
}

std::string size_error(const json& v) {
  auto r = parse_size(v);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(Quantity, SizesUseBinaryMultiples) {
  EXPECT_EQ(size_of("512m"), 512LL << 20);
  EXPECT_EQ(size_of("1g"), 1LL << 30);
  EXPECT_EQ(size_of("1.5g"), 3LL << 29);
  EXPECT_EQ(size_of("1G"), 1LL << 30);
  EXPECT_EQ(size_of("2gi"), 2LL << 30);
  EXPECT_EQ(size_of("2GiB"), 2LL << 30);
  EXPECT_EQ(size_of("300kb"), 300LL << 10);
  EXPECT_EQ(size_of("1t"), 1LL << 40);
  EXPECT_EQ(size_of("4096"), 4096);
  EXPECT_EQ(size_of("17b"), 17);
  EXPECT_EQ(size_of(json(1048576)), 1048576);
}

TEST(Quantity, BadSizesSayWhy) {
  for (const json& bad :
       {json("1x"), json("-1g"), json("g"), json(".5g"), json("1..5g"), json("1.5.5g"), json("1 g"),
        json(""), json("0"), json("0.0001b"), json(0), json(-5), json(true)}) {
    EXPECT_NE(size_error(bad), "") << bad.dump();
  }
  EXPECT_NE(size_error("0").find("must be positive"), std::string::npos);
  EXPECT_NE(size_error("99999999t").find("too large"), std::string::npos);
}

TEST(Quantity, Cpus) {
  EXPECT_EQ(std::get<double>(parse_cpus(json(2))), 2.0);
  EXPECT_EQ(std::get<double>(parse_cpus(json("0.5"))), 0.5);
  EXPECT_EQ(nano_cpus(1.5), 1500000000);
  for (const json& bad :
       {json(0), json(-2), json("abc"), json("2x"), json(""), json(0.0000001), json(nullptr)}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_cpus(bad))) << bad.dump();
  }
}

TEST(Quantity, FormatSizeIsShortAndExact) {
  EXPECT_EQ(format_size(512LL << 20), "512m");
  EXPECT_EQ(format_size(3LL << 29), "1.5g");
  EXPECT_EQ(format_size(1LL << 30), "1g");
  EXPECT_EQ(format_size(1000), "1000b");
  EXPECT_EQ(format_size(6LL << 20), "6m");
}

}  // namespace
}  // namespace acctl
