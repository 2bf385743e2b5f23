"""What the consent SMS say, in the subscriber's language (the language of the keyword they used)."""

from __future__ import annotations

from lbs.consent.decision import Purpose

PURPOSE_WORDS = {
    "en": {Purpose.ACTIVE_LOOKUP: "nearby search", Purpose.GEOFENCING: "place alerts", Purpose.MARKETING: "offers"},
    "fr": {
        Purpose.ACTIVE_LOOKUP: "recherche a proximite",
        Purpose.GEOFENCING: "alertes de lieu",
        Purpose.MARKETING: "offres",
    },
    "nl": {
        Purpose.ACTIVE_LOOKUP: "zoeken in de buurt",
        Purpose.GEOFENCING: "plaatsmeldingen",
        Purpose.MARKETING: "aanbiedingen",
    },
}

TEXTS = {
    "en": {
        "request": "{app} asks to use your location for {purpose}. Reply YES {app} to allow. Free. No reply = no.",
        "granted": "OK: {app} may use your location for {purpose} until {until}. STOP {app} to withdraw.",
        "revoked": "Done: {app} may no longer locate you.",
        "revoked_all": "Done: no application may locate you any more.",
        "paused": "Location paused for everyone until {until} UTC.",
        "none": "No application may locate you.",
        "list": "May locate you: {items}. STOP <NAME> to withdraw, LOC OFF for all.",
        "unknown_app": "Unknown application {app}. Send LOC LIST to see yours.",
        "which_app": "Which application? Reply YES <NAME>, e.g. YES {example}.",
        "no_request": "Unknown application. Reply YES <NAME> with the name in the request you received.",
        "bad_pause": "Send PAUSE with a duration, e.g. PAUSE 2H or PAUSE 1D.",
        "loc_usage": "Send LOC LIST, LOC OFF or LOC OFF <NAME>.",
    },
    "fr": {
        "request": "{app} demande a utiliser votre position ({purpose}). Repondez OUI {app} pour accepter. Gratuit.",
        "granted": "OK: {app} peut utiliser votre position ({purpose}) jusqu'au {until}. STOP {app} pour retirer.",
        "revoked": "C'est fait: {app} ne peut plus vous localiser.",
        "revoked_all": "C'est fait: plus aucune application ne peut vous localiser.",
        "paused": "Localisation suspendue pour tous jusqu'a {until} UTC.",
        "none": "Aucune application ne peut vous localiser.",
        "list": "Peuvent vous localiser: {items}. STOP <NOM> pour retirer, LOC OFF pour tout.",
        "unknown_app": "Application {app} inconnue. Envoyez LOC LIST pour voir les votres.",
        "which_app": "Quelle application? Repondez OUI <NOM>, par ex. OUI {example}.",
        "no_request": "Application inconnue. Repondez OUI <NOM> avec le nom de la demande recue.",
        "bad_pause": "Envoyez PAUSE avec une duree, par ex. PAUSE 2H ou PAUSE 1D.",
        "loc_usage": "Envoyez LOC LIST, LOC OFF ou LOC OFF <NOM>.",
    },
    "nl": {
        "request": "{app} vraagt uw locatie te gebruiken ({purpose}). Antwoord JA {app} om toe te staan. Gratis.",
        "granted": "OK: {app} mag uw locatie gebruiken ({purpose}) tot {until}. STOP {app} om in te trekken.",
        "revoked": "Gedaan: {app} kan u niet meer lokaliseren.",
        "revoked_all": "Gedaan: geen enkele toepassing kan u nog lokaliseren.",
        "paused": "Lokalisatie gepauzeerd voor iedereen tot {until} UTC.",
        "none": "Geen enkele toepassing mag u lokaliseren.",
        "list": "Mogen u lokaliseren: {items}. STOP <NAAM> om in te trekken, LOC OFF voor alles.",
        "unknown_app": "Onbekende toepassing {app}. Stuur LOC LIST om de uwe te zien.",
        "which_app": "Welke toepassing? Antwoord JA <NAAM>, bv. JA {example}.",
        "no_request": "Onbekende toepassing. Antwoord JA <NAAM> met de naam uit het verzoek.",
        "bad_pause": "Stuur PAUSE met een duur, bv. PAUSE 2H of PAUSE 1D.",
        "loc_usage": "Stuur LOC LIST, LOC OFF of LOC OFF <NAAM>.",
    },
}


def text(language: str, key: str, **values: str) -> str:
    """The message ``key`` in ``language`` (English when the language is unknown)."""
    return TEXTS.get(language, TEXTS["en"])[key].format(**values)


def purpose_word(language: str, purpose: Purpose) -> str:
    return PURPOSE_WORDS.get(language, PURPOSE_WORDS["en"])[purpose]
