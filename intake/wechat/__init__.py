"""WeChat official account (公众号) and WeCom (企业微信) callbacks: the message-encryption
spec, the XML they post, and the one service their messages become chat or ticket data
through (docs/wechat.md)."""
