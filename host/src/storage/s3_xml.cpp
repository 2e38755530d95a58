#include "storage/s3_xml.h"

#include <Poco/DOM/AutoPtr.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Exception.h>
#include <Poco/SAX/XMLReader.h>

#include <charconv>

namespace aw {
namespace {

using Poco::XML::Element;
using Poco::XML::Node;

//! The document, or null when `xml` is not well-formed. Namespaces off: S3 puts its
//! elements in a default namespace, and plain names are what is read here.
Poco::AutoPtr<Poco::XML::Document> parseDocument(const std::string& xml) {
    Poco::XML::DOMParser parser;
    parser.setFeature(Poco::XML::XMLReader::FEATURE_NAMESPACES, false);
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_GENERAL_ENTITIES, false);
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_PARAMETER_ENTITIES, false);
    try {
        return parser.parseString(xml);
    } catch (const Poco::Exception&) {
        return nullptr;
    }
}

//! Child elements of `parent` named `name`.
std::vector<Element*> children(const Node* parent, const std::string& name) {
    std::vector<Element*> found;
    for (Node* node = parent ? parent->firstChild() : nullptr; node; node = node->nextSibling()) {
        if (node->nodeType() == Node::ELEMENT_NODE && node->nodeName() == name) {
            found.push_back(static_cast<Element*>(node));
        }
    }
    return found;
}

std::string childText(const Node* parent, const std::string& name) {
    const auto found = children(parent, name);
    return found.empty() ? std::string() : found.front()->innerText();
}

ProblemError badAnswer(const std::string& what, const std::string& xml) {
    return ProblemError({"object_store_bad_answer",
                         "the object store answered " + what +
                             " with a document that is not one: " + xml.substr(0, 200),
                         "check that object_store.endpoint is an S3 service"});
}

std::string xmlEscape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace

std::optional<S3ErrorBody> parseS3Error(const std::string& xml) {
    const auto document = parseDocument(xml);
    if (!document || !document->documentElement() ||
        document->documentElement()->nodeName() != "Error") {
        return std::nullopt;
    }
    return S3ErrorBody{childText(document->documentElement(), "Code"),
                       childText(document->documentElement(), "Message")};
}

S3ListPage parseListObjectsV2(const std::string& xml) {
    const auto document = parseDocument(xml);
    const Element* root = document ? document->documentElement() : nullptr;
    if (!root || root->nodeName() != "ListBucketResult") throw badAnswer("ListObjectsV2", xml);
    S3ListPage page;
    for (const Element* contents : children(root, "Contents")) {
        ObjectInfo object;
        object.key = childText(contents, "Key");
        const std::string size = childText(contents, "Size");
        std::from_chars(size.data(), size.data() + size.size(), object.size);
        object.modifiedMs = parseS3TimeMs(childText(contents, "LastModified"));
        page.objects.push_back(std::move(object));
    }
    page.truncated = childText(root, "IsTruncated") == "true";
    page.nextContinuationToken = childText(root, "NextContinuationToken");
    return page;
}

std::string parseUploadId(const std::string& xml) {
    const auto document = parseDocument(xml);
    const Element* root = document ? document->documentElement() : nullptr;
    const std::string id = root ? childText(root, "UploadId") : "";
    if (!root || root->nodeName() != "InitiateMultipartUploadResult" || id.empty()) {
        throw badAnswer("CreateMultipartUpload", xml);
    }
    return id;
}

S3DeleteResult parseDeleteResult(const std::string& xml) {
    const auto document = parseDocument(xml);
    const Element* root = document ? document->documentElement() : nullptr;
    if (!root || root->nodeName() != "DeleteResult") throw badAnswer("DeleteObjects", xml);
    S3DeleteResult result;
    result.deleted = children(root, "Deleted").size();
    for (const Element* error : children(root, "Error")) {
        result.errors.push_back(childText(error, "Key") + ": " + childText(error, "Code") + " " +
                                childText(error, "Message"));
    }
    return result;
}

std::string completeMultipartXml(const std::vector<std::string>& etags) {
    std::string xml = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < etags.size(); ++i) {
        xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
               xmlEscape(etags[i]) + "</ETag></Part>";
    }
    return xml + "</CompleteMultipartUpload>";
}

std::string deleteObjectsXml(const std::vector<std::string>& keys) {
    std::string xml = "<Delete><Quiet>true</Quiet>";
    for (const auto& key : keys) xml += "<Object><Key>" + xmlEscape(key) + "</Key></Object>";
    return xml + "</Delete>";
}

std::int64_t parseS3TimeMs(const std::string& text) {
    Poco::DateTime parsed;
    int zone = 0;
    if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ISO8601_FRAC_FORMAT, text, parsed,
                                        zone) &&
        !Poco::DateTimeParser::tryParse(text, parsed, zone)) {
        return 0;
    }
    parsed.makeUTC(zone);
    return parsed.timestamp().epochMicroseconds() / 1000;
}

}  // namespace aw
