// Request framing on plain-HTTP connections: every head is found and judged, bodies are not.
#include "gate/request_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace acctl::gate {
namespace {

BodyFraming framing_of(const std::string& head) {
  auto parsed = parse_http_head(head);
  EXPECT_EQ(parsed.status, HttpHeadStatus::kComplete) << head;
  auto f = request_body_framing(parsed.head);
  EXPECT_TRUE(std::holds_alternative<BodyFraming>(f)) << head;
  return std::holds_alternative<BodyFraming>(f) ? std::get<BodyFraming>(f) : BodyFraming{};
}

std::string framing_error(const std::string& head) {
  auto parsed = parse_http_head(head);
  auto f = request_body_framing(parsed.head);
  return std::holds_alternative<std::string>(f) ? std::get<std::string>(f) : "";
}

// A stream whose first request was for allowed.test; later heads must name it too.
struct Harness {
  std::vector<std::string> judged;  // the Host of every later head the judge saw
  size_t skip;                      // the first head: forwarded first, not part of what is fed
  RequestStream stream;
  explicit Harness(const std::string& first_head, const std::string& rest = "")
      : skip(first_head.size()),
        stream(first_head + rest, first_head.size(), framing_of(first_head),
               [this](const HttpRequestHead& head, std::string&) -> std::optional<std::string> {
                 judged.emplace_back(head.host().value_or(""));
                 if (head.host() != "allowed.test") return "host-changed: " + judged.back();
                 return std::nullopt;
               }) {}
  // Feeds `bytes` in pieces of `step` and forwards everything cleared; -> what went upstream.
  std::string feed(const std::string& bytes, size_t step = 1000000) {
    std::string out;
    bool ok = true;
    auto drain = [&] {
      ok = stream.advance() && ok;
      std::string_view f = stream.forwardable();
      const size_t drop = std::min(skip, f.size());
      skip -= drop;
      out += f.substr(drop);
      stream.consumed(f.size());
    };
    drain();
    for (size_t i = 0; ok && i < bytes.size(); i += step) {
      stream.append(bytes.substr(i, step));
      drain();
    }
    return out;
  }
};

const std::string kGet = "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n";
const std::string kEvil = "GET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n";

TEST(RequestFraming, LengthChunkedNoneAndUpgrade) {
  EXPECT_EQ(framing_of(kGet).kind, BodyFraming::Kind::kNone);
  BodyFraming f = framing_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
  EXPECT_EQ(f.kind, BodyFraming::Kind::kLength);
  EXPECT_EQ(f.length, 12u);
  EXPECT_EQ(
      framing_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").kind,
      BodyFraming::Kind::kChunked);
  EXPECT_TRUE(framing_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                         "Upgrade: websocket\r\n\r\n")
                  .upgrade);
  EXPECT_FALSE(framing_of("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade);
}

TEST(RequestFraming, AmbiguousFramingIsRefused) {
  EXPECT_EQ(framing_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"),
            "Transfer-Encoding and Content-Length together");
  EXPECT_EQ(framing_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            "Transfer-Encoding without chunked last");
  EXPECT_EQ(framing_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n"),
            "Content-Length values differ");
  EXPECT_EQ(framing_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"),
            "Content-Length is not a decimal number");
}

TEST(RequestStream, EverySecondHeadIsJudgedAndAnotherHostIsRefusedBeforeItIsForwarded) {
  Harness h(kGet);
  const std::string out = h.feed(kGet + kEvil + kGet);
  EXPECT_EQ(out, kGet);  // the second allowed one went; evil.test's head never did
  EXPECT_EQ(h.judged, (std::vector<std::string>{"allowed.test", "evil.test"}));
  EXPECT_EQ(h.stream.refusal(), "host-changed: evil.test");
}

TEST(RequestStream, HeadsArrivingAByteAtATimeAreJudgedWhole) {
  Harness h(kGet);
  EXPECT_EQ(h.feed(kGet + kGet, 1), kGet + kGet);
  EXPECT_EQ(h.stream.later_requests(), 2u);
  EXPECT_EQ(h.stream.held(), 0u);
}

TEST(RequestStream, ABodyThatLooksLikeARequestIsBodyNotAHead) {
  const std::string post =
      "POST / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: " + std::to_string(kEvil.size()) +
      "\r\n\r\n";
  Harness h(post);
  EXPECT_EQ(h.feed(kEvil + kGet), kEvil + kGet);
  EXPECT_EQ(h.judged, (std::vector<std::string>{"allowed.test"}));
  // And a head after the body is judged.
  Harness h2(post);
  EXPECT_EQ(h2.feed(kEvil + kEvil), kEvil);
  EXPECT_FALSE(h2.stream.refusal().empty());
}

TEST(RequestStream, ChunkedBodiesEndWhereTheirLastChunkAndTrailersDo) {
  const std::string post =
      "POST / HTTP/1.1\r\nHost: allowed.test\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body =
      "5;ext=1\r\nhello\r\n1A\r\n" + std::string(26, 'x') + "\r\n0\r\nX-Trailer: yes\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{3}, size_t{1000}}) {
    Harness h(post);
    EXPECT_EQ(h.feed(body + kGet + kEvil, step), body + kGet) << step;
    EXPECT_EQ(h.judged, (std::vector<std::string>{"allowed.test", "evil.test"})) << step;
  }
}

TEST(RequestStream, MalformedChunksEndTheStream) {
  const std::string post =
      "POST / HTTP/1.1\r\nHost: allowed.test\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& body :
       {std::string("zz\r\n"), std::string("5\r\nhelloXX"), std::string("5\nhello\r\n"),
        std::string("5 x\r\n"), std::string("1000000000000000\r\n")}) {
    Harness h(post);
    h.feed(body);
    EXPECT_NE(h.stream.refusal().find("bad-framing"), std::string::npos) << body;
  }
}

TEST(RequestStream, AfterAnUpgradeTheStreamIsOpaque) {
  Harness h(
      "GET /ws HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\n\r\n");
  EXPECT_EQ(h.feed(kEvil), kEvil);  // websocket frames now, to the same upstream
  EXPECT_TRUE(h.judged.empty());
}

TEST(RequestStream, TheJudgeMayRewriteAHead) {
  RequestStream s(kGet, kGet.size(), BodyFraming{},
                  [](const HttpRequestHead&, std::string& bytes) -> std::optional<std::string> {
                    bytes = "GET /rewritten HTTP/1.1\r\nHost: allowed.test\r\n\r\n";
                    return std::nullopt;
                  });
  s.append("GET http://allowed.test/rewritten HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
  ASSERT_TRUE(s.advance());
  EXPECT_EQ(s.forwardable(), kGet + "GET /rewritten HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
}

TEST(RequestStream, AnEndlessHeadIsRefused) {
  Harness h(kGet);
  h.feed("GET / HTTP/1.1\r\nX: " + std::string(kDefaultMaxHeadBytes + 10, 'a'));
  EXPECT_FALSE(h.stream.refusal().empty());
}

TEST(LaterRequest, MustGoWhereTheFirstWentInTheListenersForm) {
  auto judged = [](const std::string& text, bool proxy) {
    auto parsed = parse_http_head(text);
    EXPECT_EQ(parsed.status, HttpHeadStatus::kComplete) << text;
    std::string bytes = text;
    LaterRequest r = judge_later_request(parsed.head, bytes, proxy, 80, "allowed.test", 80);
    return std::make_pair(r, bytes);
  };
  EXPECT_FALSE(judged("GET / HTTP/1.1\r\nHost: Allowed.Test.\r\n\r\n", false).first.refusal);
  auto other = judged("GET / HTTP/1.1\r\nHost: other.test\r\n\r\n", false).first;
  EXPECT_EQ(other.refusal,
            "another-host-on-keep-alive: other.test:80 on a connection to allowed.test:80");
  EXPECT_EQ(other.host, "other.test");
  EXPECT_TRUE(judged("GET / HTTP/1.1\r\nHost: allowed.test:8080\r\n\r\n", false).first.refusal);
  // The proxy listener: absolute-form, rewritten; anything else refused.
  auto [ok, bytes] =
      judged("GET http://allowed.test/p?q HTTP/1.1\r\nHost: allowed.test\r\n\r\n", true);
  EXPECT_FALSE(ok.refusal);
  EXPECT_EQ(bytes, "GET /p?q HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
  EXPECT_EQ(judged("GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", true).first.refusal,
            "not-a-proxy-request");
  EXPECT_EQ(judged("CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n", true)
                .first.refusal,
            "not-a-proxy-request");
  EXPECT_NE(judged("GET http://allowed.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n", true)
                .first.refusal.value_or("")
                .find("host-mismatch"),
            std::string::npos);
}

}  // namespace
}  // namespace acctl::gate
