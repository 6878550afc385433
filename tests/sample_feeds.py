"""Small feeds the tests share: a one-item RSS document and a project that reads it."""

ONE_ITEM_RSS = ("<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link>"
                "<description>d</description><item><title>News</title><link>https://p.example.org/1</link>"
                "<pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item></channel></rss>")
FEED_ONLY = """
[sources.partner]
type = "feed"
url = "partner.xml"
[sinks.feed]
type = "rss"
"""
TWO_FEEDS = """
[sources.partner]
type = "feed"
url = "partner.xml"
[sources.down]
type = "feed"
url = "down.xml"
"""  # write partner.xml and down.xml: a feed, or not, as the test needs
TWO_SOURCES = TWO_FEEDS + """[sinks.feed]
type = "rss"
"""
