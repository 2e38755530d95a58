// The s3 store's request shapes without a server: key encoding, the canonical query libcurl
// signs as written, the two URL styles, and the XML documents.
#include <gtest/gtest.h>

#include "storage/s3_transport.h"
#include "storage/s3_xml.h"

namespace aw {
namespace {

TEST(S3Request, KeysArePercentEncodedOnceWithSlashesKept) {
    EXPECT_EQ(s3UriEncode("ws/a b/\xC3\xA9+x~_.-1.txt", true), "ws/a%20b/%C3%A9%2Bx~_.-1.txt");
    EXPECT_EQ(s3UriEncode("a/b=c&d", false), "a%2Fb%3Dc%26d");
}

TEST(S3Request, QueryIsSortedAndEveryParameterHasAnEqualsSign) {
    EXPECT_EQ(s3CanonicalQuery({{"uploads", ""}}), "uploads=");
    EXPECT_EQ(
        s3CanonicalQuery({{"prefix", "a b/"}, {"list-type", "2"}, {"continuation-token", "x+/="}}),
        "continuation-token=x%2B%2F%3D&list-type=2&prefix=a%20b%2F");
}

TEST(S3Request, PathStyleAndVirtualHostStyleUrls) {
    S3Settings settings;
    settings.endpoint = "http://127.0.0.1:9000/";
    settings.bucket = "aw";
    settings.pathStyle = true;
    EXPECT_EQ(S3Transport(settings).url("r/t/s/a b.txt", {}),
              "http://127.0.0.1:9000/aw/r/t/s/a%20b.txt");
    EXPECT_EQ(S3Transport(settings).url("", {{"list-type", "2"}}),
              "http://127.0.0.1:9000/aw?list-type=2");
    settings.endpoint = "https://s3.eu-west-1.amazonaws.com";
    settings.pathStyle = false;
    EXPECT_EQ(S3Transport(settings).url("k", {}), "https://aw.s3.eu-west-1.amazonaws.com/k");
}

TEST(S3Xml, ListPagesAndErrorsAreRead) {
    const auto page = parseListObjectsV2(
        "<?xml version=\"1.0\"?><ListBucketResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;2</NextContinuationToken>"
        "<Contents><Key>a &amp; b</Key><Size>12</Size>"
        "<LastModified>2026-01-02T03:04:05.678Z</LastModified></Contents></ListBucketResult>");
    ASSERT_EQ(page.objects.size(), 1u);
    EXPECT_EQ(page.objects[0].key, "a & b");
    EXPECT_EQ(page.objects[0].size, 12u);
    EXPECT_EQ(page.objects[0].modifiedMs, 1767323045678);
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.nextContinuationToken, "t&2");

    const auto error =
        parseS3Error("<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, "NoSuchBucket");
    EXPECT_FALSE(parseS3Error("not xml"));
    EXPECT_THROW(parseListObjectsV2("<Error/>"), ProblemError);
}

TEST(S3Xml, RequestBodiesEscapeKeys) {
    EXPECT_EQ(deleteObjectsXml({"a<b>&'\""}),
              "<Delete><Quiet>true</Quiet><Object><Key>a&lt;b&gt;&amp;&apos;&quot;</Key></Object></"
              "Delete>");
    EXPECT_EQ(completeMultipartXml({"\"e1\""}),
              "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
              "</Part></CompleteMultipartUpload>");
}

}  // namespace
}  // namespace aw
