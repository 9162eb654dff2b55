{
  "targets": [
    {
      "target_name": "rt_sendfile",
      "conditions": [["OS=='linux'", { "sources": ["sendfile.c"] }]]
    },
    {
      "target_name": "rt_sha256",
      "conditions": [["OS=='linux'", { "sources": ["sha256.c"] }]]
    },
    {
      "target_name": "rt_md5",
      "conditions": [["OS=='linux'", { "sources": ["md5.c"] }]]
    },
    {
      "target_name": "rt_listen",
      "conditions": [["OS=='linux'", { "sources": ["listen.c"] }]]
    }
  ]
}
