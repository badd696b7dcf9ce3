"""`!roll 2d6+1` rolls dice; `!roll stats` shows the caller's tally.

Tallies are kept in the plugin's key-value store (`rolls:<user>` and
`total:<user>`), so they survive restarts and updates.
"""

import random
import re

import rosey

DICE = re.compile(r"(\d*)d(\d+)([+-]\d+)?")
MAX_SIDES = 1000
MAX_MODIFIER = 1000
USAGE = "Usage: !roll [NdS[+M]] (e.g. !roll 2d6+1), or !roll stats"

# SystemRandom draws from the host's random source on every call. (The
# module-level state of `random` would be snapshotted when the component is
# built, and every instance would roll the same numbers.)
DIE = random.SystemRandom()


class Guest(rosey.Plugin):
    def on_command(self, cmd: rosey.Command) -> str | None:
        arg = cmd.arg_text.strip().lower()
        if arg == "stats":
            return stats(cmd.user)
        return roll(cmd.user, arg or "1d6")


def roll(user: str, spec: str) -> str:
    match = DICE.fullmatch(spec)
    if match is None:
        return USAGE
    count = int(match.group(1) or "1")
    sides = int(match.group(2))
    modifier = int(match.group(3) or "0")
    max_dice = rosey.config("max_dice", 20)
    if not 1 <= count <= max_dice:
        return f"You can roll 1 to {max_dice} dice at once."
    if not 1 <= sides <= MAX_SIDES:
        return f"A die has 1 to {MAX_SIDES} sides."
    if abs(modifier) > MAX_MODIFIER:
        return f"The modifier is at most {MAX_MODIFIER}."
    dice = [DIE.randint(1, sides) for _ in range(count)]
    total = sum(dice) + modifier
    rosey.kv_set(f"rolls:{user}", rosey.kv_get(f"rolls:{user}", 0) + 1)
    rosey.kv_set(f"total:{user}", rosey.kv_get(f"total:{user}", 0) + total)
    rosey.debug(f"{user} rolled {spec}: {dice}")
    if count == 1 and modifier == 0:
        return f"{user} rolled {spec}: {total}"
    shown = " + ".join(str(d) for d in dice)
    if modifier > 0:
        shown += f" + {modifier}"
    elif modifier < 0:
        shown += f" - {-modifier}"
    return f"{user} rolled {spec}: {shown} = {total}"


def stats(user: str) -> str:
    rolls = rosey.kv_get(f"rolls:{user}", 0)
    if rolls == 0:
        return f"{user} has not rolled yet."
    total = rosey.kv_get(f"total:{user}", 0)
    times = "time" if rolls == 1 else "times"
    return f"{user} has rolled {rolls} {times}, {total} in total."
