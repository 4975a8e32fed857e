// The node's web page (index.html, app.js, app.css in this folder), built
// into agorad by cmake/EmbedFiles.cmake: no files to install, no build step
// for the page itself, and what a node serves is what its binary was built
// with. docs/web.md describes the page.
#ifndef AGORA_NODE_WEB_ASSETS_H_
#define AGORA_NODE_WEB_ASSETS_H_

#include <span>
#include <string_view>

namespace agora::node::web {

struct Asset {
  std::string_view path;          // URL path: "/index.html", "/app.js", ...
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

std::span<const Asset> Assets();

}  // namespace agora::node::web

#endif  // AGORA_NODE_WEB_ASSETS_H_
