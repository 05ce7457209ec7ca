# Reference solution: lesson 00, "which method costs the most?".
def most_costly(rate):
    """The method with the most bytes per news item at `rate` news/s (polls every 200 ms)."""
    polls_per_second = 1 / 0.2
    if rate < polls_per_second:
        # Fewer news items than polls: most polls carry nothing, and each costs a request
        # and a response. (At 1 news/s: five polls, a few hundred bytes each, per item.)
        return "short polling"
    # More news than polls: one poll answers many items, while a long-poll still pays a
    # whole request and response for almost every item. (Streams cost a few bytes each.)
    return "long-polling"
