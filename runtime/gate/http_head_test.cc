// Tests for the HTTP request-head parser and the authority helpers, from the attacker's side.
#include "gate/http_head.h"

#include <gtest/gtest.h>

#include <string>

namespace acctl::gate {
namespace {

HttpRequestHead complete(std::string_view text) {
  HttpHeadParse result = parse_http_head(text);
  EXPECT_EQ(result.status, HttpHeadStatus::kComplete) << result.reason;
  return result.head;
}

std::string malformed(std::string_view text) {
  HttpHeadParse result = parse_http_head(text);
  EXPECT_EQ(result.status, HttpHeadStatus::kMalformed) << text;
  return result.reason;
}

HostPort destination(std::string_view text, uint16_t default_port = 80) {
  auto result = request_destination(complete(text), default_port);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<HostPort>(result);
}

std::string destination_error(std::string_view text) {
  auto result = request_destination(complete(text), 80);
  EXPECT_TRUE(std::holds_alternative<std::string>(result)) << text;
  auto* error = std::get_if<std::string>(&result);
  return error ? *error : "";
}

TEST(GateHttpHead, OriginForm) {
  const std::string text = "GET /a?b=c HTTP/1.1\r\nHost: GitHub.com\r\nAccept:  */* \r\n\r\nBODY";
  HttpRequestHead head = complete(text);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/a?b=c");
  EXPECT_EQ(head.minor_version, 1);
  EXPECT_EQ(head.form, TargetForm::kOrigin);
  EXPECT_EQ(head.length, text.size() - 4);
  ASSERT_EQ(head.fields.size(), 2u);
  EXPECT_EQ(head.fields[1].value, "*/*");
  EXPECT_EQ(head.host(), "GitHub.com");
  HostPort where = destination(text);
  EXPECT_EQ(where.host, "GitHub.com");
  EXPECT_EQ(where.port, 80);
}

TEST(GateHttpHead, NeedsMoreUntilTheBlankLineAtEverySplit) {
  const std::string text = "GET / HTTP/1.1\r\nHost: a.com\r\n\r\n";
  HttpHeadReader reader;
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_EQ(reader.scan(std::string_view(text).substr(0, n)).status, HttpHeadStatus::kNeedMore)
        << n;
    EXPECT_EQ(parse_http_head(std::string_view(text).substr(0, n)).status,
              HttpHeadStatus::kNeedMore)
        << n;
  }
  EXPECT_EQ(reader.scan(text).status, HttpHeadStatus::kComplete);
}

TEST(GateHttpHead, TooLarge) {
  std::string text = "GET / HTTP/1.1\r\nHost: a.com\r\nX: " + std::string(40000, 'a');
  HttpHeadParse result = parse_http_head(text);
  EXPECT_EQ(result.status, HttpHeadStatus::kTooLarge);
  // A head that fits exactly is fine; one byte more is not.
  std::string fits = "GET / HTTP/1.1\r\nHost: a.com\r\n\r\n";
  EXPECT_EQ(parse_http_head(fits, fits.size()).status, HttpHeadStatus::kComplete);
  EXPECT_EQ(parse_http_head(fits, fits.size() - 1).status, HttpHeadStatus::kTooLarge);
  // The byte-at-a-time path stops at the limit too.
  HttpHeadReader reader(64);
  HttpHeadParse last;
  for (size_t n = 0; n <= 100 && last.status == HttpHeadStatus::kNeedMore; ++n) {
    last = reader.scan(std::string_view(text).substr(0, n));
  }
  EXPECT_EQ(last.status, HttpHeadStatus::kTooLarge);
}

TEST(GateHttpHead, TooManyFields) {
  std::string text = "GET / HTTP/1.1\r\nHost: a.com\r\n";
  for (int i = 0; i < 200; ++i) text += "X: y\r\n";
  text += "\r\n";
  EXPECT_EQ(parse_http_head(text).status, HttpHeadStatus::kTooLarge);
}

TEST(GateHttpHead, LineEndingsMustBeCrLf) {
  EXPECT_EQ(malformed("GET / HTTP/1.1\nHost: a.com\n\n"), "bare LF in head");
  EXPECT_EQ(malformed("GET / HTTP/1.1\r\nHost: a.com\rX: y\r\n\r\n"), "bare CR in head");
  // Refused as soon as the bad byte arrives, not after the blank line.
  EXPECT_EQ(parse_http_head("GET / HTTP/1.1\n").status, HttpHeadStatus::kMalformed);
  EXPECT_EQ(parse_http_head("GET / HTTP/1.1\r").status, HttpHeadStatus::kNeedMore);
}

TEST(GateHttpHead, CrLfInjectionAndControlCharacters) {
  malformed(
      "GET / HTTP/1.1\r\nHost: a.com\r\nX: a\x01"
      "b\r\n\r\n");
  static constexpr char kNul[] = "GET / HTTP/1.1\r\nHost: a.com\r\nX: a\0b\r\n\r\n";
  malformed(std::string(kNul, sizeof kNul - 1));
  malformed("GET /a\x7f HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET /a b HTTP/1.1\r\nHost: a.com\r\n\r\n");  // space inside the target
  malformed("GET / HTTP/1.1\r\nHost: a.com\r\n X: folded\r\n\r\n");
  malformed("GET / HTTP/1.1\r\nHost: a.com\r\n\tX: folded\r\n\r\n");
  malformed("GET / HTTP/1.1\r\nHost : a.com\r\n\r\n");  // whitespace before the colon
  malformed("GET / HTTP/1.1\r\nNoColon\r\n\r\n");
  malformed("G(T / HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET  / HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET / HTTP/2.0\r\nHost: a.com\r\n\r\n");
  malformed("GET / http/1.1\r\nHost: a.com\r\n\r\n");
  malformed("\r\n\r\n");
  // obs-text in a value is allowed by RFC 9110; it cannot break lines.
  complete("GET / HTTP/1.1\r\nHost: a.com\r\nX: caf\xc3\xa9\r\n\r\n");
}

TEST(GateHttpHead, HostRules) {
  EXPECT_EQ(malformed("GET / HTTP/1.1\r\nHost: a.com\r\nhost: evil.com\r\n\r\n"),
            "more than one Host field");
  EXPECT_EQ(malformed("GET / HTTP/1.1\r\nX: y\r\n\r\n"), "HTTP/1.1 without Host");
  HttpRequestHead old = complete("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.host(), std::nullopt);
  EXPECT_EQ(request_destination(old, 80).index(), 1u);
  EXPECT_EQ(destination_error("GET / HTTP/1.1\r\nHost:\r\n\r\n"), "no Host field");
}

TEST(GateHttpHead, AbsoluteForm) {
  const std::string text = "GET HTTP://GitHub.com:8080/x HTTP/1.1\r\nHost: github.com:8080\r\n\r\n";
  HttpRequestHead head = complete(text);
  EXPECT_EQ(head.form, TargetForm::kAbsolute);
  HostPort where = destination(text);
  EXPECT_EQ(where.host, "GitHub.com");
  EXPECT_EQ(where.port, 8080);
  EXPECT_EQ(destination("GET https://a.com HTTP/1.1\r\nHost: a.com.\r\n\r\n").port, 443);
  // Host must agree with the target's name and port.
  EXPECT_NE(destination_error("GET http://a.com/ HTTP/1.1\r\nHost: evil.com\r\n\r\n"), "");
  EXPECT_NE(destination_error("GET http://a.com/ HTTP/1.1\r\nHost: a.com:81\r\n\r\n"), "");
  EXPECT_NE(destination_error("GET http://a.com:81/ HTTP/1.1\r\nHost: a.com\r\n\r\n"), "");
  EXPECT_NE(destination_error("GET http://a.com/ HTTP/1.1\r\nHost: a.com@evil.com\r\n\r\n"), "");
  malformed("GET ftp://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET http://user:pw@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET http://a.com#frag HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET http:///x HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("GET a.com/x HTTP/1.1\r\nHost: a.com\r\n\r\n");
}

// What an origin server is sent for a proxy's request, or why there is nothing to send.
TEST(GateHttpHead, OriginFormLineOfAProxyRequest) {
  auto line = [](const std::string& text) {
    auto l = origin_form_line(complete(text));
    if (auto* refusal = std::get_if<std::string>(&l)) return "refused: " + *refusal;
    return std::get<OriginFormLine>(l).line;
  };
  EXPECT_EQ(line("GET http://a.com/x?y=1 HTTP/1.1\r\nHost: a.com\r\n\r\n"), "GET /x?y=1 HTTP/1.1");
  EXPECT_EQ(line("HEAD http://a.com HTTP/1.0\r\n\r\n"), "HEAD / HTTP/1.0");
  EXPECT_EQ(line("GET https://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n"),
            "refused: https-needs-connect");
}

TEST(GateHttpHead, ConnectAuthorityForm) {
  const std::string text = "CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n";
  EXPECT_EQ(complete(text).form, TargetForm::kAuthority);
  EXPECT_EQ(destination(text).port, 443);
  // A Host without a port agrees with the CONNECT port.
  EXPECT_EQ(destination("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n").host, "a.com");
  HostPort v6 = destination("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:DB8::1]\r\n\r\n");
  EXPECT_EQ(v6.host, "2001:db8::1");
  EXPECT_TRUE(v6.ipv6_literal);
  EXPECT_NE(destination_error("CONNECT a.com:443 HTTP/1.1\r\nHost: b.com:443\r\n\r\n"), "");
  malformed("CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n");  // port required
  malformed("CONNECT user@a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n");
  malformed("CONNECT /x HTTP/1.1\r\nHost: a.com\r\n\r\n");
}

TEST(GateHttpHead, AsteriskOnlyForOptions) {
  EXPECT_EQ(complete("OPTIONS * HTTP/1.1\r\nHost: a.com\r\n\r\n").form, TargetForm::kAsterisk);
  malformed("GET * HTTP/1.1\r\nHost: a.com\r\n\r\n");
}

TEST(GateSplitAuthority, Forms) {
  auto ok = [](std::string_view text, std::optional<uint16_t> port = 80) {
    auto result = split_authority(text, port);
    EXPECT_TRUE(std::holds_alternative<HostPort>(result)) << text;
    return std::holds_alternative<HostPort>(result) ? std::get<HostPort>(result) : HostPort{};
  };
  auto bad = [](std::string_view text, std::optional<uint16_t> port = 80) {
    EXPECT_TRUE(std::holds_alternative<std::string>(split_authority(text, port))) << text;
  };
  EXPECT_EQ(ok("a.com").port, 80);
  EXPECT_EQ(ok("a.com:8443").port, 8443);
  EXPECT_EQ(ok("a.com:65535").port, 65535);
  EXPECT_EQ(ok("[::1]").host, "::1");
  EXPECT_EQ(ok("[::ffff:127.0.0.1]:81").port, 81);
  bad("a.com", std::nullopt);
  bad("a.com:");
  bad("a.com:0");
  bad("a.com:65536");
  bad("a.com:+80");
  bad("a.com:8 0");
  bad("a.com:999999");
  bad(":80");
  bad("");
  bad("user@a.com");
  bad("a.com:80@b.com");
  bad("::1");  // v6 without brackets
  bad("[::1");
  bad("[a.com]:80");  // brackets hold only IPv6
  bad("[::1]x");
  bad("[fe80::1%25eth0]");  // zone IDs are refused
  bad("[]");
}

}  // namespace
namespace {
// Found by fuzz_http_head: a CR as the last byte the limit allows was judged by the byte after
// the limit when that byte had arrived, and not when it had not.
TEST(GateHttpHead, WhatFollowsTheLimitDoesNotChangeTheVerdict) {
  const std::string head = "GET / HTTP/1.1\r\nX: aaaaa\r";  // the CR is the last allowed byte
  const HttpHeadParse at_limit = parse_http_head(head, head.size());
  const HttpHeadParse beyond = parse_http_head(head + "Zzz", head.size());
  EXPECT_EQ(at_limit.status, HttpHeadStatus::kTooLarge);
  EXPECT_EQ(beyond.status, HttpHeadStatus::kTooLarge);
  EXPECT_EQ(beyond.reason, at_limit.reason);
  // Within the limit a bare CR is still refused.
  EXPECT_EQ(parse_http_head(head + "Zzz", 64).status, HttpHeadStatus::kMalformed);
}
}  // namespace
}  // namespace acctl::gate
