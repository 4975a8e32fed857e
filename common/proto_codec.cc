#include "common/proto_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/reflection.h>

#include <algorithm>
#include <vector>

namespace agora {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Returns the path of the first message inside `m` that holds unknown fields,
// or an empty string if there is none.
std::string FindUnknownFields(const Message& m, const std::string& path) {
  const auto* reflection = m.GetReflection();
  if (!reflection->GetUnknownFields(m).empty()) return path.empty() ? "(top level)" : path;
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::string child_path = path.empty() ? field->name() : path + "." + field->name();
    if (field->is_repeated()) {
      int n = reflection->FieldSize(m, field);
      for (int i = 0; i < n; ++i) {
        std::string found = FindUnknownFields(reflection->GetRepeatedMessage(m, field, i),
                                              child_path + "[" + std::to_string(i) + "]");
        if (!found.empty()) return found;
      }
    } else {
      std::string found = FindUnknownFields(reflection->GetMessage(m, field), child_path);
      if (!found.empty()) return found;
    }
  }
  return {};
}

}  // namespace

Bytes EncodeDeterministic(const Message& message) {
  Bytes out(message.ByteSizeLong());
  google::protobuf::io::ArrayOutputStream array(out.data(), static_cast<int>(out.size()));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  AGORA_CHECK(!coded.HadError());
  AGORA_CHECK(static_cast<size_t>(coded.ByteCount()) == out.size());
  return out;
}

Status DecodeStrict(ByteSpan bytes, size_t bytes_max, Message& out) {
  const std::string& type = out.GetDescriptor()->full_name();
  if (bytes.size() > bytes_max) {
    return Status::ResourceExhausted(type + " is " + std::to_string(bytes.size()) +
                                     " bytes; the limit is " + std::to_string(bytes_max));
  }
  out.Clear();
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("malformed " + type + " (" + std::to_string(bytes.size()) +
                              " bytes)");
  }
  std::string unknown = FindUnknownFields(out, "");
  if (!unknown.empty()) {
    out.Clear();
    return Status::Corruption(type + " has unknown fields at " + unknown +
                              " (sent by a newer or a hostile peer)");
  }
  Bytes canonical = EncodeDeterministic(out);
  if (!std::equal(canonical.begin(), canonical.end(), bytes.begin(), bytes.end())) {
    out.Clear();
    return Status::Corruption(type + " is not in canonical encoding");
  }
  return Status::Ok();
}

}  // namespace agora
