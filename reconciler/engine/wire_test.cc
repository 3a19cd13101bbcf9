// Tests of the wire helpers: encodings, version negotiation, frame and line decoding.
#include "engine/wire.h"

#include <gtest/gtest.h>

#include <random>

namespace acctl::engine {
namespace {

TEST(UrlEncode, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(url_encode("aZ0-._~"), "aZ0-._~");
  EXPECT_EQ(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(url_encode(R"({"label":{"a=b":true}})"),
            "%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D");
}

TEST(PathEncode, KeepsImageReferenceSeparators) {
  EXPECT_EQ(path_encode("acctl-test/busybox:latest"), "acctl-test/busybox:latest");
  EXPECT_EQ(path_encode("a b?c"), "a%20b%3Fc");
}

TEST(QueryString, EncodesBothSidesAndRepeatsKeys) {
  EXPECT_EQ(query_string({}), "");
  EXPECT_EQ(query_string({{"all", "1"}, {"changes", "CMD [\"sh\"]"}, {"changes", "ENV A=b"}}),
            "?all=1&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db");
}

TEST(FiltersJson, UsesTheMapFormWithEscaping) {
  Filters f{{"label", {"ac.managed-by=acctl", "ac.name=x\"y"}}, {"status", {"running"}}};
  EXPECT_EQ(
      filters_json(f),
      R"({"label":{"ac.managed-by=acctl":true,"ac.name=x\"y":true},"status":{"running":true}})");
  EXPECT_EQ(filters_json(label_filters({{"ac.kind", "Sandbox"}})),
            R"({"label":{"ac.kind=Sandbox":true}})");
}

TEST(ApiVersion, ComparesNumerically) {
  EXPECT_LT(compare_api_versions("1.9", "1.41"), 0);
  EXPECT_GT(compare_api_versions("1.41", "1.40"), 0);
  EXPECT_EQ(compare_api_versions("1.41", "1.41.0"), 0);
  EXPECT_GT(compare_api_versions("2.0", "1.99"), 0);
}

TEST(ApiVersion, NegotiatesTheLowerOfServerAndOurs) {
  EXPECT_EQ(*negotiate_api_version("1.41"), "1.41");
  EXPECT_EQ(*negotiate_api_version("1.40"), "1.40");
  EXPECT_EQ(*negotiate_api_version("1.47"), "1.41");  // a newer engine still speaks 1.41
}

TEST(ApiVersion, RefusesOldServersClearly) {
  auto r = negotiate_api_version("1.39");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("1.39"), std::string::npos);
  EXPECT_NE(r.error().message.find("at least 1.40"), std::string::npos);
  EXPECT_FALSE(negotiate_api_version("").ok());
}

std::string frame(int stream, std::string_view payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  uint32_t n = static_cast<uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + std::string(payload);
}

struct Collected {
  std::string out, err;
  bool sink(LogStream s, std::string_view b) {
    (s == LogStream::kStderr ? err : out).append(b);
    return true;
  }
};

TEST(FrameDecoder, DemultiplexesAtAnyChunkSize) {
  std::string big(70000, 'x');  // a frame larger than any one read
  std::string stream =
      frame(1, "hello\n") + frame(2, "oops\n") + frame(1, "") + frame(1, big) + frame(2, "bye\n");
  std::mt19937 rng(42);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 8u, 9u, 4096u, 1000000u, 0u}) {
    FrameDecoder d;
    Collected c;
    std::size_t pos = 0;
    while (pos < stream.size()) {
      // chunk 0: random sizes 1..20
      std::size_t n = chunk ? chunk : std::uniform_int_distribution<std::size_t>(1, 20)(rng);
      ASSERT_TRUE(d.feed(std::string_view(stream).substr(pos, n),
                         [&](LogStream s, std::string_view b) { return c.sink(s, b); }));
      pos += n;
    }
    EXPECT_EQ(c.out, "hello\n" + big) << "chunk " << chunk;
    EXPECT_EQ(c.err, "oops\nbye\n") << "chunk " << chunk;
    EXPECT_TRUE(d.at_boundary());
    EXPECT_TRUE(d.error().empty());
  }
}

TEST(FrameDecoder, PassesPayloadOnBeforeTheFrameIsComplete) {
  // logs -f must show output as it arrives, not when a frame ends.
  FrameDecoder d;
  Collected c;
  std::string f = frame(1, "abcdef");
  d.feed(f.substr(0, 11), [&](LogStream s, std::string_view b) { return c.sink(s, b); });
  EXPECT_EQ(c.out, "abc");
  EXPECT_FALSE(d.at_boundary());
}

TEST(FrameDecoder, StopsWhenTheSinkSaysSo) {
  FrameDecoder d;
  int calls = 0;
  std::string s = frame(1, "a") + frame(1, "b");
  EXPECT_FALSE(d.feed(s, [&](LogStream, std::string_view) { return ++calls < 1; }));
  EXPECT_EQ(calls, 1);
}

TEST(FrameDecoder, FallsBackToRawOnAMalformedHeader) {
  FrameDecoder d;
  std::string raw;
  auto sink = [&](LogStream s, std::string_view b) {
    EXPECT_EQ(s, LogStream::kRaw);
    raw.append(b);
    return true;
  };
  d.feed("plain text from a tty\n", sink);
  d.feed("more", sink);
  EXPECT_EQ(raw, "plain text from a tty\nmore");
  EXPECT_FALSE(d.error().empty());
}

TEST(LineSplitter, SplitsAcrossChunksAndFlushesTheTail) {
  std::string text = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}";
  for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) {
    LineSplitter s;
    std::vector<std::string> lines;
    auto sink = [&](std::string_view l) {
      lines.emplace_back(l);
      return true;
    };
    for (std::size_t pos = 0; pos < text.size(); pos += chunk)
      s.feed(text.substr(pos, chunk), sink);
    s.finish(sink);
    EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}))
        << "chunk " << chunk;
  }
}

// Feeds `text` split at byte `split` (0 = whole) as a connection may deliver it, and does what
// the attach does: once the head is complete, later chunks are stream bytes, after rest().
struct HeadRead {
  ResponseHeadReader reader;
  std::string stream;
};
HeadRead read_head(std::string_view text, std::size_t split) {
  HeadRead r;
  std::vector<std::string_view> chunks{text};
  if (split > 0 && split < text.size()) chunks = {text.substr(0, split), text.substr(split)};
  for (auto chunk : chunks) {
    if (r.reader.state() == ResponseHeadReader::State::kIncomplete) {
      if (r.reader.feed(chunk) == ResponseHeadReader::State::kComplete) r.stream = r.reader.rest();
    } else {
      r.stream.append(chunk);
    }
  }
  return r;
}

TEST(ResponseHeadReader, UpgradeKeepsTheStreamBytesThatFollowTheHead) {
  // An attach that already has output: the first frame arrives in the same read as the head.
  std::string frame("\x01\0\0\0\0\0\0\x03hi\n", 11);
  std::string text =
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" +
      frame;
  for (std::size_t split = 0; split < text.size(); ++split) {
    auto [r, stream] = read_head(text, split);
    ASSERT_EQ(r.state(), ResponseHeadReader::State::kComplete) << "split " << split;
    EXPECT_EQ(r.head().status, 101);
    EXPECT_EQ(r.head().reason, "UPGRADED");
    EXPECT_EQ(r.head().headers.at("upgrade"), "tcp");
    EXPECT_EQ(r.head().headers.at("content-type"), "application/vnd.docker.raw-stream");
    EXPECT_EQ(stream, frame) << "split " << split;
  }
}

TEST(ResponseHeadReader, ByteAtATime) {
  std::string text = "HTTP/1.0 200 OK\r\nX-A: 1\r\nx-a:  2 \r\n\r\nraw";
  ResponseHeadReader r;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto state = r.feed(text.substr(i, 1));
    // Complete exactly at the blank line's '\n', not a byte earlier.
    EXPECT_EQ(state == ResponseHeadReader::State::kComplete, i >= text.size() - 4) << i;
  }
  EXPECT_EQ(r.head().status, 200);
  EXPECT_EQ(r.head().headers.at("x-a"), "1, 2");
  EXPECT_EQ(r.rest(), "");  // bytes fed after completion are the caller's: "raw" is not kept
}

TEST(ResponseHeadReader, ErrorRepliesAndBareNewlines) {
  std::string text = "HTTP/1.1 404 Not Found\nContent-Type: text/plain\n\nNo such container: x\r\n";
  for (std::size_t split = 0; split < text.size(); ++split) {
    auto [r, body] = read_head(text, split);
    ASSERT_EQ(r.state(), ResponseHeadReader::State::kComplete) << "split " << split;
    EXPECT_EQ(r.head().status, 404);
    EXPECT_EQ(r.head().reason, "Not Found");
    EXPECT_EQ(body, "No such container: x\r\n");
  }
  auto conflict = read_head("HTTP/1.1 409\r\n\r\n", 0).reader;
  ASSERT_EQ(conflict.state(), ResponseHeadReader::State::kComplete);
  EXPECT_EQ(conflict.head().status, 409);
  EXPECT_EQ(conflict.head().reason, "");
}

TEST(ResponseHeadReader, IncompleteUntilTheBlankLine) {
  ResponseHeadReader r;
  EXPECT_EQ(r.feed("HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n"),
            ResponseHeadReader::State::kIncomplete);
  EXPECT_EQ(r.feed("\r"), ResponseHeadReader::State::kIncomplete);
  EXPECT_EQ(r.feed("\n"), ResponseHeadReader::State::kComplete);
}

TEST(ResponseHeadReader, MalformedHeads) {
  for (std::string text :
       {"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc\r\n\r\n", "HTTP/1.1 101 UPGRADED\r\nno colon here\r\n\r\n",
        "HTTP/1.1 101 UPGRADED\r\n folded: x\r\n\r\n", "HTTP/1.1 101 X\r\nBad Name: x\r\n\r\n",
        "\r\n"}) {
    auto r = read_head(text, text.size() / 2).reader;
    EXPECT_EQ(r.state(), ResponseHeadReader::State::kMalformed) << text;
    EXPECT_FALSE(r.error().empty()) << text;
  }
  ResponseHeadReader endless;
  std::string header = "X-Filler: " + std::string(1000, 'x') + "\r\n";
  auto state = endless.feed("HTTP/1.1 200 OK\r\n");
  for (int i = 0; i < 100 && state == ResponseHeadReader::State::kIncomplete; ++i) {
    state = endless.feed(header);
  }
  EXPECT_EQ(state, ResponseHeadReader::State::kMalformed);
  // Once decided, more bytes change nothing.
  EXPECT_EQ(endless.feed("\r\n\r\n"), ResponseHeadReader::State::kMalformed);
}

}  // namespace
}  // namespace acctl::engine
