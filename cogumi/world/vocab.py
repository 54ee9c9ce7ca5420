"""Word lists shared by the tiny world's generators."""

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivy", "Jon",
         "Kim", "Leo", "Mia", "Ned", "Omar", "Pia", "Raj", "Sue", "Tom", "Uma")
ITEMS = ("apples", "books", "coins", "shells", "stamps", "marbles", "pens", "cards", "cups", "rocks")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen")
TOPICS = ("the sea", "the moon", "a cat", "the rain", "a forest", "the wind", "a river", "the sun",
          "a garden", "the snow", "a bird", "the night", "a city", "the stars", "a mountain",
          "a fox", "the spring", "a ship", "a road", "the clouds", "an old house", "a lamp",
          "a bridge", "the autumn")
# Words that describe each topic, drawn from when writing about it.
TOPIC_WORDS = {
    "nouns": ("light", "song", "dream", "shadow", "voice", "path", "fire", "heart", "stone", "field"),
    "adjectives": ("quiet", "bright", "cold", "gentle", "golden", "dark", "soft", "wild", "silver", "slow"),
    "verbs": ("sings", "sleeps", "waits", "dances", "glows", "drifts", "shines", "whispers", "falls", "turns"),
    "places": ("the hill", "the shore", "the town", "the valley", "the lake", "the gate", "the sky", "the field"),
}
