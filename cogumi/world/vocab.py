"""Word lists shared by the tiny world's generators."""

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivy", "Jon",
         "Kim", "Leo", "Mia", "Ned", "Omar", "Pia", "Raj", "Sue", "Tom", "Uma")
ITEMS = ("apples", "books", "coins", "shells", "stamps", "marbles", "pens", "cards", "cups", "rocks")
TOPICS = ("the sea", "the moon", "a cat", "the rain", "a forest", "the wind", "a river", "the sun",
          "a garden", "the snow", "a bird", "the night", "a city", "the stars", "a mountain",
          "a fox", "the spring", "a ship", "a road", "the clouds", "an old house", "a lamp",
          "a bridge", "the autumn", "a tree", "the dawn", "a lighthouse", "the desert", "a harbor",
          "the meadow", "a candle", "the winter", "a train", "the island", "a castle", "the summer",
          "a storm", "the lake", "a wolf", "the fire")
# Words that describe each topic, drawn from when writing about it.
TOPIC_WORDS = {
    "nouns": ("light", "song", "dream", "shadow", "voice", "path", "fire", "heart", "stone", "field"),
    "adjectives": ("quiet", "bright", "cold", "gentle", "golden", "dark", "soft", "wild", "silver", "slow"),
    "verbs": ("sings", "sleeps", "waits", "dances", "glows", "drifts", "shines", "whispers", "falls", "turns"),
    "adverbs": ("softly", "slowly", "gently", "brightly", "quietly", "again", "tonight", "alone"),
    "places": ("the hill", "the shore", "the town", "the valley", "the lake", "the gate", "the sky", "the field"),
}


def topic_word(topic: str) -> str:
    """The noun a topic is about: "an old house" -> "house"."""
    return topic.split()[-1]
