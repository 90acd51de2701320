"""OpenIM's own constants: platforms, multi-login policies, token lifetimes.

A leaf module: it imports nothing of the app, so that configuration, schemas
and the CLI can name a platform without loading tokens, models or the database.
"""

# OpenIM v2's platform numbers and the names its tokens carry (docs/api-v2.md).
PLATFORM_NAMES = {
    1: "IOS",
    2: "Android",
    3: "Windows",
    4: "OSX",
    5: "Web",
    6: "MiniWeb",
    7: "Linux",
    8: "APad",
    9: "IPad",
}

# OpenIM v3's platform numbers (openimsdk/protocol constant): v2's, plus
# Admin, which only admin tokens carry, and HarmonyOS.
ADMIN_PLATFORM = 10
V3_PLATFORM_NAMES = {**PLATFORM_NAMES, ADMIN_PLATFORM: "Admin", 11: "HarmonyOS"}
# appMangerLevel 3 and 4 mark OpenIM v3's notification and bot accounts, which get no user token.
FIRST_ACCOUNT_LEVEL_WITHOUT_TOKEN = 3

# OPENIM_MULTI_LOGIN: which earlier tokens of a user a new token kicks.
# keep: none (OpenIM's default); kick_same_platform: those of the new token's
# platform; single: all of them.
MULTI_LOGIN_POLICIES = ("keep", "kick_same_platform", "single")

SECONDS_PER_DAY = 24 * 60 * 60
