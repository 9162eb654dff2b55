{
  "targets": [
    {
      "target_name": "rt_sendfile",
      "conditions": [["OS=='linux'", { "sources": ["sendfile.c"] }]]
    }
  ]
}
