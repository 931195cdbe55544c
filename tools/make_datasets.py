#!/usr/bin/env python3
"""Write the small fine-tuning datasets in data/datasets/.

Both datasets are written for tinyia3 and contain no third-party text. They are
generated from seeded templates and hand-written phrase banks (all below), so
running this script twice gives byte-identical files.

    python tools/make_datasets.py          # writes data/datasets/*.jsonl, prints stats
    python tools/make_datasets.py --check  # regenerate in memory, compare with the files

Datasets
--------
support_desk_{train,heldout}.jsonl
    {"prompt": "Customer: ...\\nAgent:", "completion": " Hi <name>,\\n...\\n— Sam at Lumen Support"}
    Style/domain adaptation: the support desk of "Lumen Notes", a fictional
    note-taking app, answering in a fixed house tone (greeting, one plain
    sentence, numbered steps, signature). The held-out file uses customer
    wordings, sign-off frames and customer names that never occur in training.

review_sentiment_{train,heldout}.jsonl
    {"prompt": "Review: ...\\nSentiment:", "choices": [" good", " bad"], "label": 0|1}
    Rank classification. Sentiment is carried by words that are common in the
    World English Bible (the embedded model's only pre-training text), so the
    model already has usable representations for them. The held-out file uses
    sentence frames, nouns, events and verdicts that never occur in training.
    (Measured: the embedded model does not learn it; kept for real-GPT-2 users.)

bible_names_{train,heldout}.jsonl
    {"prompt": "Hebron is the name of a", "choices": [" man", " city"], "label": 0|1}
    Rank classification built for the embedded model: is a Bible name a man or a
    city? The held-out file uses 20 men, 20 cities and 3 sentence frames that
    never occur in training.

Only the standard library is used, plus tinyia3's GPT-2 tokenizer for the
length checks. Files are written atomically (temp file + os.replace).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "datasets"
sys.path.insert(0, str(ROOT))

from tinyia3.tokenizer import gpt2_tokenizer  # noqa: E402

SUPPORT_SEED = 20250101
SENTIMENT_SEED = 20250102

SUPPORT_COUNTS = {"train": 330, "heldout": 70}
SENTIMENT_COUNTS = {"train": 330, "heldout": 70}

SUPPORT_MAX_TOKENS = 120  # prompt + completion
SENTIMENT_MAX_PROMPT_TOKENS = 60


# =============================================================================
# 1. Support desk (prompt / completion)
# =============================================================================

SIGNATURE = "— Sam at Lumen Support"

# Customer names. Train and held-out pools are disjoint ("Sam" is the agent).
NAMES = {
    "train": [
        "Priya", "Tom", "Aisha", "Lucas", "Mei", "Daniel", "Fatima", "Oliver", "Sofia",
        "Kwame", "Hannah", "Mateo", "Yuki", "Grace", "Omar", "Chloe", "Ravi", "Emma",
        "Jonas", "Leila", "Ben", "Ana", "Tariq", "Nora", "Diego", "Ingrid", "Kofi",
        "Lily", "Arjun", "Sara", "Felix", "Amara", "Hugo", "Zoe", "Ines", "Marcus",
        "Nadia", "Pete", "Rosa", "Chen", "Elena", "Jake", "Maya", "Ahmed", "Julia",
        "Kai", "Laura", "Noah", "Olga", "Theo",
    ],
    "heldout": [
        "Bianca", "Dev", "Erin", "Farid", "Gwen", "Hiro", "Isla", "Joel", "Kemi",
        "Liam", "Mira", "Nikhil", "Orla", "Pablo", "Ruth", "Sven",
    ],
}

# Where the customer's name goes. Held-out frames are not used in training.
FRAMES = {
    "train": [
        "Hi, I'm {name}. {msg}",
        "{msg} Thanks, {name}",
        "Hello, {name} here. {msg}",
        "{msg} — {name}",
    ],
    "heldout": [
        "Hey, this is {name}. {msg}",
        "{msg} Cheers, {name}",
    ],
}

# (how the customer says it, kind, how the agent says it)
DEVICES = [
    ("on my iPhone", "mobile", "on your iPhone"),
    ("on my Android phone", "mobile", "on your phone"),
    ("on my iPad", "mobile", "on your iPad"),
    ("on my phone", "mobile", "on your phone"),
    ("on my laptop", "desktop", "on your laptop"),
    ("on my Mac", "desktop", "on your Mac"),
    ("on my Windows PC", "desktop", "on your PC"),
    ("in the web app", "web", "in your browser"),
]
DEVICE_GROUPS = {
    "any": ("mobile", "desktop", "web"),
    "app": ("mobile", "desktop"),
    "mobile": ("mobile",),
    "desktop": ("desktop",),
}

# Closing lines before the signature; an empty string means none.
OUTROS = [
    "",
    "",
    "If that doesn't do it, just reply and I'll dig in.",
    "Let me know how it goes!",
    "Hope that helps!",
    "Any trouble, just reply to this message.",
    "Shout if anything's still off.",
]

# One entry per problem type.
#   devices  which devices the message can mention (see DEVICE_GROUPS)
#   asks     customer wordings; {on} is the device ("on my iPhone"). The last
#            `HELDOUT_ASKS` wordings of each problem are held out.
#   intros   the agent's first line after the greeting (one is picked)
#   steps    numbered steps; each step is a list of interchangeable wordings.
#            {tap}/{Tap} is "tap" on mobile, "click" on desktop and web, "select"
#            if the message names no device; {on} is the agent's device phrase
#            ("on your iPhone", "in your browser").
HELDOUT_ASKS = 2

PROBLEMS = [
    {
        "key": "sync",
        "devices": "any",
        "asks": [
            "My notes won't sync {on}.",
            "I wrote a note on my laptop this morning and it still isn't showing up {on}.",
            "Sync seems stuck. The little arrows just keep spinning {on}.",
            "my notes arent syncing {on}, help",
            "Changes I make {on} never reach my other devices.",
            "The notes {on} are a day behind everything else. Why?",
        ],
        "intros": [
            "Sorry your notes aren't syncing. A stuck sync usually clears with a manual refresh.",
            "Thanks for flagging this. Sync can get stuck, but it's quick to fix.",
        ],
        "steps": [
            ["Open Lumen {on} and go to Settings > Sync.", "Go to Settings > Sync {on}."],
            ["{Tap} Sync now and wait for the arrows to stop.", "{Tap} Sync now and give it a minute."],
            ["Check you're signed in to the same account on every device.",
             "Make sure every device shows the same email under Settings > Account."],
        ],
    },
    {
        "key": "login",
        "devices": "any",
        "asks": [
            "I can't log in {on}. It says my password is wrong, but it isn't.",
            "Lumen keeps logging me out {on} and won't let me back in.",
            "I'm stuck on the sign-in screen {on}.",
            "Login isn't working {on} since yesterday.",
            "It just says \"sign-in failed\" {on}. What am I doing wrong?",
            "cant get into my account {on} at all",
        ],
        "intros": [
            "Sorry you're locked out. It's usually the email or an old app version.",
            "That sounds frustrating. Let's get you back in.",
        ],
        "steps": [
            ["Check the email address for typos or an extra space.",
             "Double-check the email you're signing in with."],
            ["Update Lumen to the latest version.", "Make sure Lumen is up to date."],
            ["Then {tap} Forgot password? to set a new one.",
             "Still stuck? {Tap} Forgot password? on the sign-in screen."],
        ],
    },
    {
        "key": "password_reset",
        "devices": "any",
        "asks": [
            "I forgot my password. How do I reset it?",
            "The password reset email never arrives.",
            "I asked for a new password three times and got nothing.",
            "How can I change my password {on}?",
            "Reset link says it has expired. What now?",
            "i need a new password, the old one isnt working",
        ],
        "intros": [
            "No problem, resetting it only takes a minute.",
            "Happy to help with that. The reset link is the quickest way.",
        ],
        "steps": [
            ["On the sign-in screen, {tap} Forgot password? and enter your email.",
             "{Tap} Forgot password? on the sign-in screen and type your email."],
            ["Check your spam folder if the email hasn't arrived in five minutes.",
             "If nothing arrives, look in your spam or promotions folder."],
            ["The link works for 30 minutes, then you can sign in again.",
             "The link works for 30 minutes, so use the newest one."],
        ],
    },
    {
        "key": "export_pdf",
        "devices": "any",
        "asks": [
            "How do I export a note as a PDF?",
            "I need to send a note to my boss as a PDF {on}. Is that possible?",
            "Can I save a whole notebook as one PDF?",
            "Where's the export option {on}? I want a PDF.",
            "I'd like to print my notes. Can Lumen make a PDF?",
            "export to pdf isnt where it used to be",
        ],
        "intros": [
            "Yes, you can! Any note can be saved as a PDF.",
            "Good news, exporting to PDF is built in.",
        ],
        "steps": [
            ["Open the note and {tap} the three-dot menu.", "Open the note, then {tap} the three-dot menu."],
            ["Choose Export, then PDF.", "Pick Export > PDF."],
            ["For a whole notebook, use Export notebook from the notebook's menu instead.",
             "To export a full notebook, open the notebook's menu and choose Export notebook."],
        ],
    },
    {
        "key": "double_charge",
        "devices": "any",
        "asks": [
            "I was charged twice this month.",
            "My card shows two payments for Lumen Plus. Can you fix that?",
            "Why did you bill me twice?",
            "There are two charges from Lumen on my statement.",
            "I think I paid for my plan twice by accident.",
            "double charge on my card?? please sort this out",
        ],
        "intros": [
            "Sorry for the worry. Often one of the two is only a temporary hold.",
            "Thanks for telling us. Let's check whether it's a real double charge.",
        ],
        "steps": [
            ["Go to Settings > Plan > Billing history.", "Open Settings > Plan > Billing history."],
            ["Only one payment there? The other is a hold that drops off in 3 to 5 days.",
             "If only one is listed, the other is a hold and will vanish within 5 days."],
            ["If both are listed, reply with the dates and we'll refund one.",
             "Two payments listed? Reply with the dates and we'll refund the extra one."],
        ],
    },
    {
        "key": "dark_mode",
        "devices": "any",
        "asks": [
            "Is there a dark mode?",
            "The white screen hurts my eyes at night {on}. Can I make it dark?",
            "How do I turn on dark mode {on}?",
            "Dark mode keeps switching back to light {on}.",
            "Can Lumen follow my system's dark theme?",
            "where is the dark theme setting",
        ],
        "intros": [
            "There is! It's easy on the eyes at night.",
            "Yes, Lumen has a dark theme.",
        ],
        "steps": [
            ["Go to Settings > Appearance {on}.", "Open Settings > Appearance."],
            ["Under Theme, choose Dark.", "Set Theme to Dark."],
            ["Or pick Match system so it follows your device.",
             "Choose Match system instead if you want it to switch with your device."],
        ],
    },
    {
        "key": "attachments",
        "devices": "any",
        "asks": [
            "I can't attach a video to my note {on}.",
            "My attachment upload fails every time {on}.",
            "Why won't Lumen let me add this file?",
            "Attachments just say \"upload failed\" {on}.",
            "I'm trying to add a big PDF to a note and nothing happens.",
            "photos wont attach {on}",
        ],
        "intros": [
            "Sorry about that. It's usually the file size or a weak connection.",
            "Thanks for the details. Uploads fail most often because of the size limit.",
        ],
        "steps": [
            ["Check the file size: up to 25 MB on Free, 250 MB on Plus.",
             "Files can be up to 25 MB on Free and 250 MB on Plus."],
            ["Make sure you're on a steady connection.", "Try again on a stable Wi-Fi connection."],
            ["For bigger files, add a link to the file instead.",
             "If the file is too big, paste a link to it in the note."],
        ],
    },
    {
        "key": "offline",
        "devices": "app",
        "asks": [
            "Can I use Lumen without internet {on}?",
            "My notes don't open when I'm on the plane {on}.",
            "How do I keep notes available offline {on}?",
            "Offline mode doesn't seem to work {on}.",
            "I travel a lot and need my notes with no signal. Is that possible?",
            "no wifi = no notes?? {on}",
        ],
        "intros": [
            "Yes, you can keep notebooks on your device for offline use.",
            "Offline use works, but each notebook has to be saved to the device first.",
        ],
        "steps": [
            ["Go to Settings > Offline {on}.", "Open Settings > Offline."],
            ["Turn on Keep notebooks on this device and choose the notebooks you need.",
             "Switch on Keep notebooks on this device, then pick your notebooks."],
            ["Open Lumen once while online so it can download them.",
             "Let it finish downloading while you still have a connection."],
        ],
    },
    {
        "key": "restore_deleted",
        "devices": "any",
        "asks": [
            "I deleted a note by mistake. Can I get it back?",
            "An important note just disappeared {on}.",
            "Is there a way to undo deleting a note?",
            "I emptied a notebook and need one of the notes back.",
            "Accidentally deleted my shopping list note, is it gone forever?",
            "help, deleted the wrong note {on}",
        ],
        "intros": [
            "Don't worry, deleted notes stay in the Trash for 30 days.",
            "Good news, it's most likely still in the Trash.",
        ],
        "steps": [
            ["Open Trash from the sidebar.", "{Tap} Trash in the sidebar."],
            ["Find the note, or search for a word from it.", "Look for the note or search its title."],
            ["{Tap} Restore and it goes back to its notebook.",
             "{Tap} Restore to put it back where it was."],
        ],
    },
    {
        "key": "delete_forever",
        "devices": "any",
        "asks": [
            "How do I delete notes for good?",
            "I deleted a note but it's still in the Trash. How do I get rid of it completely?",
            "Can I delete a whole notebook at once {on}?",
            "I want to remove some old notes permanently.",
            "How do I empty the trash {on}?",
            "deleted notes still taking up space?",
        ],
        "intros": [
            "Sure. Deleting a note moves it to the Trash first, so it's a two-step job.",
            "Happy to help. Notes go to the Trash before they're gone for good.",
        ],
        "steps": [
            ["Open the note's three-dot menu and choose Delete.",
             "{Tap} the three-dot menu on the note, then Delete."],
            ["Open Trash from the sidebar.", "Go to Trash in the sidebar."],
            ["{Tap} Empty Trash. This can't be undone.", "Choose Empty Trash. This step can't be undone."],
        ],
    },
    {
        "key": "sharing",
        "devices": "any",
        "asks": [
            "How do I share a note with my team?",
            "Can two people edit the same note?",
            "I want my wife to see our packing list {on}.",
            "How do I give someone view-only access to a note?",
            "Is there a way to share a notebook with my class?",
            "share a note with a friend {on}?",
        ],
        "intros": [
            "Yes, any note can be shared by email.",
            "Sharing is built in, and you choose what others can do.",
        ],
        "steps": [
            ["Open the note and {tap} Share at the top.", "{Tap} Share at the top of the note."],
            ["Enter their email address.", "Type the email of the person you're inviting."],
            ["Choose Can view or Can edit, then {tap} Send.", "Pick Can view or Can edit and {tap} Send."],
        ],
    },
    {
        "key": "tags",
        "devices": "any",
        "asks": [
            "How do tags work?",
            "I want to label my notes by project. Can I do that?",
            "How do I rename a tag {on}?",
            "Can I see all notes with the same tag?",
            "Tags are confusing me. How do I add one?",
            "where do i find my tags {on}",
        ],
        "intros": [
            "Tags are a handy way to group notes across notebooks.",
            "Sure, tags are the easiest way to label notes.",
        ],
        "steps": [
            ["Type # and a word anywhere in a note to tag it, like #work.",
             "Add a tag by typing # and a word in the note, for example #recipes."],
            ["Open Tags in the sidebar to see every tagged note.", "{Tap} Tags in the sidebar to browse them."],
            ["To rename or delete a tag, open its menu in that list.",
             "Use the tag's menu in that list to rename or delete it."],
        ],
    },
    {
        "key": "search",
        "devices": "any",
        "asks": [
            "Search can't find a note that I know exists.",
            "Searching {on} gives me no results at all.",
            "Why doesn't search find words inside my notes?",
            "Search is missing my newest notes.",
            "I typed the exact title and search still shows nothing.",
            "search is broken {on}",
        ],
        "intros": [
            "Sorry about that. The search index probably needs a refresh.",
            "That usually means the search index is out of date.",
        ],
        "steps": [
            ["Go to Settings > Advanced {on}.", "Open Settings > Advanced."],
            ["{Tap} Rebuild search index and leave Lumen open until it finishes.",
             "Choose Rebuild search index and wait a minute or two."],
            ["Search again. Words inside attachments are only searchable on Plus.",
             "Try your search again. Text inside attachments is searched on Plus only."],
        ],
    },
    {
        "key": "crash",
        "devices": "app",
        "asks": [
            "Lumen crashes as soon as I open it {on}.",
            "The app closes right after the logo appears {on}.",
            "Lumen won't start {on} since the last update.",
            "Every time I launch the app {on} it freezes and quits.",
            "App keeps crashing on startup. Are my notes safe?",
            "lumen crashes on start {on}, what do i do",
        ],
        "intros": [
            "Sorry about the crashes. Your synced notes are safe on our servers.",
            "That's no fun, sorry. Your notes are safe, so let's get the app running again.",
        ],
        "steps": [
            ["Update Lumen to the latest version.", "Install the latest Lumen update."],
            ["Restart your device and open Lumen again.", "Turn your device off and on, then try again."],
            ["Still crashing? Reinstall Lumen and sign in; your synced notes will come back.",
             "If it still crashes, reinstall Lumen and sign in to bring your notes back."],
        ],
    },
    {
        "key": "cancel",
        "devices": "any",
        "asks": [
            "How do I cancel my subscription?",
            "I want to stop paying for Lumen Plus.",
            "Please cancel my plan. I don't use the app much anymore.",
            "If I cancel Plus, do I lose my notes?",
            "How do I turn off auto-renew {on}?",
            "cancel my subscription pls",
        ],
        "intros": [
            "Sorry to see you go! Your notes stay yours either way.",
            "Sure, you can cancel any time and keep all your notes.",
        ],
        "steps": [
            ["Go to Settings > Plan.", "Open Settings > Plan."],
            ["{Tap} Cancel plan and confirm.", "Choose Cancel plan, then confirm."],
            ["Plus stays active until the end of the period you paid for.",
             "You keep Plus until your current period ends, then move to Free."],
        ],
    },
    {
        "key": "privacy",
        "devices": "any",
        "asks": [
            "Can your staff read my notes?",
            "Do you sell my data?",
            "How safe are my notes on your servers?",
            "I keep private things in Lumen. Who can see them?",
            "Can I download everything you have about me?",
            "is my data encrypted",
        ],
        "intros": [
            "Good question. Your notes are encrypted in transit and at rest, and we never sell your data.",
            "Your privacy matters to us. Notes are encrypted, and we don't sell or share your data.",
        ],
        "steps": [
            ["Our team can't open your notes unless you ask us to help with one.",
             "Staff only look at a note if you ask us to."],
            ["To get a copy of everything, go to Settings > Account > Export all data.",
             "You can download all your data from Settings > Account > Export all data."],
        ],
    },
    {
        "key": "delete_account",
        "devices": "any",
        "asks": [
            "How do I delete my account?",
            "I want my account and all my notes removed.",
            "Please close my Lumen account.",
            "Is there a way to erase my account completely?",
            "Can I delete my account {on}?",
            "remove my account and data please",
        ],
        "intros": [
            "Sorry to see you go. You can do this yourself in a few steps.",
            "Of course. Deleting your account removes all your notes too.",
        ],
        "steps": [
            ["Export anything you want to keep from Settings > Account > Export all data.",
             "First, save a copy via Settings > Account > Export all data."],
            ["Then go to Settings > Account and {tap} Delete account.",
             "In Settings > Account, choose Delete account."],
            ["Confirm by email. After 7 days everything is gone for good.",
             "Confirm the email we send; everything is erased after 7 days."],
        ],
    },
    {
        "key": "change_email",
        "devices": "any",
        "asks": [
            "How do I change the email on my account?",
            "I have a new work email. Can I move my account to it?",
            "My old email address doesn't work anymore. Can I update it?",
            "Where do I change my login email {on}?",
            "Can I switch my account to a different email?",
            "need to update my email address",
        ],
        "intros": [
            "Sure, you can change it yourself.",
            "No problem, your notes stay put when you change your email.",
        ],
        "steps": [
            ["Go to Settings > Account > Email.", "Open Settings > Account and {tap} Email."],
            ["Enter the new address and your password.", "Type your new email and current password."],
            ["{Tap} the link we send to the new address to confirm.",
             "Confirm with the link we email to the new address."],
        ],
    },
    {
        "key": "two_step",
        "devices": "any",
        "asks": [
            "Do you have two-factor login?",
            "How do I make my account more secure?",
            "Can I add a code from an authenticator app when I sign in?",
            "How do I turn on two-step sign-in {on}?",
            "I want extra security on my account.",
            "2fa?",
        ],
        "intros": [
            "Yes, and it's a great idea to turn it on.",
            "Good thinking! Two-step sign-in adds a code to your login.",
        ],
        "steps": [
            ["Go to Settings > Security > Two-step sign-in.", "Open Settings > Security and {tap} Two-step sign-in."],
            ["Scan the code with your authenticator app and enter the six digits.",
             "Scan the QR code with an authenticator app, then type the code."],
            ["Save your backup codes somewhere safe.", "Keep the backup codes somewhere safe, not in Lumen."],
        ],
    },
    {
        "key": "lost_2fa",
        "devices": "any",
        "asks": [
            "I lost my phone and can't get my sign-in code.",
            "My authenticator app was wiped. How do I log in?",
            "I got a new phone and Lumen wants a code I don't have.",
            "Two-step sign-in is locking me out {on}.",
            "No access to my old phone, can't pass the code screen.",
            "lost 2fa device, locked out",
        ],
        "intros": [
            "Sorry, that's stressful. Your backup codes will get you in.",
            "Don't worry, there's a way back in.",
        ],
        "steps": [
            ["On the code screen, {tap} Use a backup code.", "{Tap} Use a backup code on the code screen."],
            ["Enter one of the codes you saved when you set it up.",
             "Type one of the backup codes you saved earlier."],
            ["Once in, set up two-step sign-in again with your new phone.",
             "Then turn two-step sign-in off and on again to link your new phone."],
        ],
    },
    {
        "key": "import",
        "devices": "desktop",
        "asks": [
            "Can I bring my notes over from another app?",
            "I have hundreds of text files {on}. Can Lumen import them?",
            "How do I import my Evernote notes?",
            "Is there an import option {on}?",
            "Can I move my Markdown notes into Lumen?",
            "import notes from my old app?",
        ],
        "intros": [
            "Yes! Lumen can import text, Markdown and Evernote files.",
            "Sure, importing works best from the desktop app.",
        ],
        "steps": [
            ["Open Lumen {on} and choose File > Import.", "In the desktop app, go to File > Import."],
            ["Pick your .txt, .md or .enex files, or a whole folder.",
             "Select the files (.txt, .md or .enex) or a folder of them."],
            ["Choose a notebook for them and click Import.", "Pick a notebook and click Import."],
        ],
    },
    {
        "key": "reminders",
        "devices": "mobile",
        "asks": [
            "My reminders don't go off {on}.",
            "I set a reminder for 9am and never got a notification.",
            "Reminders stopped working {on}.",
            "Why am I not getting any alerts from Lumen {on}?",
            "Notifications for reminders only show up when I open the app.",
            "no reminder notifications {on}",
        ],
        "intros": [
            "Sorry about that. It's almost always a notification setting on the device.",
            "That usually means notifications are switched off for Lumen.",
        ],
        "steps": [
            ["Open your device's Settings > Notifications > Lumen.",
             "In your phone's settings, find Notifications, then Lumen."],
            ["Allow notifications and sounds.", "Turn on Allow notifications."],
            ["Turn off battery saver for Lumen so reminders can fire on time.",
             "Exclude Lumen from battery saver so it can wake up on time."],
        ],
    },
    {
        "key": "slow",
        "devices": "app",
        "asks": [
            "Lumen has become really slow {on}.",
            "Typing in a note lags {on}.",
            "Opening a notebook takes forever.",
            "Everything in the app feels sluggish lately.",
            "The app takes ages to load my notes {on}.",
            "why is lumen so slow {on}",
        ],
        "intros": [
            "Sorry it's dragging. Clearing the cache usually speeds it right up.",
            "Thanks for letting us know. A full cache can slow things down.",
        ],
        "steps": [
            ["Go to Settings > Advanced > Clear cache.", "Open Settings > Advanced and {tap} Clear cache."],
            ["Restart Lumen.", "Close Lumen completely and open it again."],
            ["Split very large notes, as notes with hundreds of images load slowly.",
             "Very long notes with lots of images are slow, so try splitting them."],
        ],
    },
    {
        "key": "text_size",
        "devices": "any",
        "asks": [
            "The text is too small {on}. Can I make it bigger?",
            "How do I change the font size?",
            "Can I use a different font in my notes?",
            "The letters are tiny {on} and hard to read.",
            "I'd like larger text in the editor.",
            "font too small {on}",
        ],
        "intros": [
            "Sure, you can change the text size and font.",
            "Yes, the editor's text is adjustable.",
        ],
        "steps": [
            ["Go to Settings > Appearance {on}.", "Open Settings > Appearance."],
            ["Drag the Text size slider until it's comfortable.", "Move the Text size slider to the size you like."],
            ["Pick a different font under Editor font if you like.", "You can also choose a font under Editor font."],
        ],
    },
    {
        "key": "duplicates",
        "devices": "any",
        "asks": [
            "I have two copies of the same note now.",
            "Some notes say \"conflicted copy\" in the title.",
            "Why are my notes duplicated {on}?",
            "After syncing I have doubles of half my notes.",
            "A note split into two versions with different text.",
            "duplicate notes everywhere {on}",
        ],
        "intros": [
            "That happens when the same note is edited on two devices before they sync.",
            "Sorry for the clutter. Lumen keeps both versions so nothing is lost.",
        ],
        "steps": [
            ["Open both copies and move any missing text into one of them.",
             "Compare the two copies and copy what you need into one."],
            ["Delete the copy you don't need.", "Then delete the extra copy."],
            ["To avoid this, let a note sync before editing it on another device.",
             "Next time, give a note a moment to sync before you switch devices."],
        ],
    },
    {
        "key": "refund",
        "devices": "any",
        "asks": [
            "I meant to buy the monthly plan but got charged for a year.",
            "Can I get a refund? I bought Plus by mistake.",
            "I upgraded by accident. Please refund me.",
            "I paid for a year but want to switch to monthly.",
            "Is it too late to get my money back for Plus?",
            "refund please, wrong plan",
        ],
        "intros": [
            "No problem, we refund plans bought in the last 14 days.",
            "Sorry for the mix-up. That's easy to sort out.",
        ],
        "steps": [
            ["Go to Settings > Plan > Billing history.", "Open Settings > Plan > Billing history."],
            ["{Tap} Request refund next to the payment.", "Choose Request refund next to that payment."],
            ["If you bought through the App Store or Google Play, request it from them instead.",
             "Bought through an app store? The refund has to come from that store."],
        ],
    },
]


def _device_phrases(kind: str | None) -> dict:
    """How the agent says "press": "tap" on mobile, "click" on desktop and web, and
    "select" when the customer did not say which device they use."""
    tap = {"mobile": "tap", "desktop": "click", "web": "click", None: "select"}[kind]
    return {"tap": tap, "Tap": tap.capitalize()}


def _support_record(rng: random.Random, problem: dict, split: str) -> dict:
    asks = problem["asks"]
    asks = asks[:-HELDOUT_ASKS] if split == "train" else asks[-HELDOUT_ASKS:]
    ask = rng.choice(asks)
    kinds = DEVICE_GROUPS[problem["devices"]]
    cust_on, kind, agent_on = rng.choice([d for d in DEVICES if d[1] in kinds])
    name = rng.choice(NAMES[split])
    frame = rng.choice(FRAMES[split])

    msg = ask.format(on=cust_on)
    if not frame.endswith("{msg}") and msg[-1] not in ".?!":
        msg += "."  # "cancel my subscription pls. Thanks, Ben"
    prompt = "Customer: " + frame.format(name=name, msg=msg) + "\nAgent:"

    said_device = "{on}" in ask
    fill = {"on": agent_on, **_device_phrases(kind if said_device else None)}
    steps = []
    for variants in problem["steps"]:
        if not said_device:  # don't name a device the customer never mentioned
            variants = [v for v in variants if "{on}" not in v]
        steps.append(rng.choice(variants).format(**fill))
    lines = [f" Hi {name},", rng.choice(problem["intros"])]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, 1)]
    outro = rng.choice(OUTROS)
    if outro:
        lines.append(outro)
    lines.append(SIGNATURE)
    return {"prompt": prompt, "completion": "\n".join(lines)}


def make_support_desk(seed: int = SUPPORT_SEED) -> dict[str, list[dict]]:
    """Round-robin over the problem types (so each appears about equally often),
    skipping exact duplicate prompts."""
    rng = random.Random(seed)
    out = {}
    for split, n in SUPPORT_COUNTS.items():
        records, seen = [], set()
        order = list(PROBLEMS)
        i = 0
        while len(records) < n:
            if i % len(order) == 0:
                rng.shuffle(order)
            problem = order[i % len(order)]
            i += 1
            rec = _support_record(rng, problem, split)
            if rec["prompt"] in seen:
                continue
            seen.add(rec["prompt"])
            records.append(rec)
        rng.shuffle(records)
        out[split] = records
    return out


# =============================================================================
# 2. Review sentiment (multiple choice, rank classification)
# =============================================================================

CHOICES = [" good", " bad"]
GOOD, BAD = 0, 1

# Sentiment words are chosen from words the embedded model has seen often in
# the World English Bible: the single-word adjectives below occur there 5 to 301
# times each, median 41 (kind, glad, pleasant, bitter, broken, weary, ...). Modern-only words (delicious, rude,
# friendly, dirty, stale) are avoided as sentiment cues: the model never saw
# them in pre-training, so no adapter could learn what they mean.
#
# Adjective groups: (positive, negative). Every noun names its group, so that
# adjectives always fit their noun ("the coffee was bitter", not "the coffee was torn").
ADJECTIVES = {
    "baked": (
        ["fresh", "warm", "sweet", "soft and fresh", "excellent", "fresh and warm"],
        ["dry", "hard", "burnt", "old and dry", "hard as a stone", "burnt and bitter"],
    ),
    "cooked": (
        ["fresh", "hot", "tender", "excellent", "hot and fresh", "tender and rich"],
        ["cold", "dry", "burnt", "half raw", "cold and dry", "full of bones"],
    ),
    "soup": (
        ["hot", "warm", "rich", "excellent", "thick and rich", "hot and fresh"],
        ["cold", "burnt", "bitter", "thin as water", "cold and thin", "burnt and bitter"],
    ),
    "drink": (
        ["fresh", "rich", "sweet", "strong", "excellent", "sweet and fresh"],
        ["bitter", "weak", "sour", "thin as water", "weak and bitter", "sour and bitter"],
    ),
    "fruit": (
        ["fresh", "sweet", "ripe", "pleasant", "sweet and fresh", "perfect"],
        ["bitter", "hard", "dry", "rotten", "full of worms", "sour and hard"],
    ),
    "people": (
        ["kind", "gentle", "patient", "honest", "cheerful", "glad to help", "kind and patient"],
        ["angry", "proud", "cold", "harsh", "dishonest", "slow and angry", "proud and cold"],
    ),
    "room": (
        ["clean", "quiet", "bright", "peaceful", "pleasant", "clean and bright", "warm and quiet"],
        ["dark", "cold", "loud", "filthy", "full of dust", "full of smoke", "dark and cold"],
    ),
    "cloth": (
        ["strong", "fine", "beautiful", "well made", "worth the price", "strong and beautiful"],
        ["torn", "thin", "worn out", "worthless", "torn within a week", "thin and weak"],
    ),
    "ware": (
        ["strong", "beautiful", "well made", "worth the price", "perfect", "strong and beautiful"],
        ["broken", "weak", "worthless", "broken within a week", "broken and useless", "weak and worthless"],
    ),
}

# Nouns by place reviewed, so one review stays in one place: (noun phrase, "to be"
# in the past, adjective group). Places and nouns are disjoint between the splits.
NOUNS = {
    "train": {
        "inn": [
            ("the bread", "was", "baked"), ("the fish", "was", "cooked"), ("the lamb", "was", "cooked"),
            ("the stew", "was", "soup"), ("the wine", "was", "drink"), ("the coffee", "was", "drink"),
            ("the staff", "were", "people"), ("the owner", "was", "people"), ("the cook", "was", "people"),
            ("the room", "was", "room"), ("the hall", "was", "room"), ("the lamp", "was", "ware"),
        ],
        "bakery": [
            ("the bread", "was", "baked"), ("the cake", "was", "baked"), ("the pie", "was", "baked"),
            ("the coffee", "was", "drink"), ("the fruit", "was", "fruit"), ("the grapes", "were", "fruit"),
            ("the baker", "was", "people"), ("the owner", "was", "people"), ("the shop", "was", "room"),
            ("the table", "was", "ware"),
        ],
        "trip": [
            ("the bus", "was", "room"), ("the driver", "was", "people"), ("the guide", "was", "people"),
            ("the tent", "was", "cloth"), ("the meat", "was", "cooked"), ("the fish", "was", "cooked"),
            ("the stew", "was", "soup"), ("the coffee", "was", "drink"), ("the fruit", "was", "fruit"),
            ("the lamp", "was", "ware"),
        ],
        "market": [
            ("the coat", "was", "cloth"), ("the bag", "was", "cloth"), ("the pot", "was", "ware"),
            ("the cart", "was", "ware"), ("the table", "was", "ware"), ("the grapes", "were", "fruit"),
            ("the fruit", "was", "fruit"), ("the bread", "was", "baked"), ("the owner", "was", "people"),
            ("the shop", "was", "room"),
        ],
    },
    "heldout": {
        "guest house": [
            ("the guest house", "was", "room"), ("the host", "was", "people"), ("the rolls", "were", "baked"),
            ("the soup", "was", "soup"), ("the tea", "was", "drink"), ("the blanket", "was", "cloth"),
            ("the chair", "was", "ware"), ("the chicken", "was", "cooked"),
        ],
        "train journey": [
            ("the train", "was", "room"), ("the dining car", "was", "room"), ("the conductor", "was", "people"),
            ("the waiter", "was", "people"), ("the tea", "was", "drink"), ("the pastry", "was", "baked"),
            ("the soup", "was", "soup"), ("the apples", "were", "fruit"), ("the blanket", "was", "cloth"),
        ],
        "stalls": [
            ("the figs", "were", "fruit"), ("the apples", "were", "fruit"), ("the jar", "was", "ware"),
            ("the chair", "was", "ware"), ("the cloak", "was", "cloth"), ("the seller", "was", "people"),
            ("the pastry", "was", "baked"), ("the market hall", "was", "room"),
        ],
    },
}

# Whole clauses about what happened (no leading capital, no full stop).
EVENTS = {
    "train": (
        ["they served us quickly", "we were greeted kindly", "we were welcomed like old friends",
         "they gave us extra bread for free", "everything was ready on time",
         "they helped us with our bags", "we had a pleasant evening", "they thanked us again and again"],
        ["we waited an hour to be served", "they shouted at a customer", "they refused to help us",
         "nobody greeted us", "everything was late", "they charged us twice",
         "they mocked our questions", "we were left standing at the door"],
    ),
    "heldout": (
        ["they carried our things to the door", "they remembered our names",
         "they made room for us at once", "we were treated with honor"],
        ["they forgot what we asked for", "we had to ask three times for water",
         "they lied about the price", "we were sent away without an answer"],
    ),
}

# Whole-review verdicts (complete sentences).
VERDICTS = {
    "train": (
        ["I was glad we came.", "We left satisfied.", "We will surely return.",
         "It was a joy from start to finish.", "We were very pleased.", "I will gladly come back.",
         "It was worth every coin.", "My heart was glad all evening."],
        ["I was sorry we came.", "We left disappointed.", "We will never return.",
         "It was a waste of money.", "What a miserable evening.", "I will never come back.",
         "It was a waste of a day.", "We went home weary and angry."],
    ),
    "heldout": (
        ["We had a wonderful time.", "I would go again tomorrow.",
         "It was a delight.", "Everyone in our group was glad."],
        ["It was a terrible visit.", "I regret going.",
         "It was a wretched experience.", "Everyone in our group was troubled."],
    ),
}

# Sentence frames. {a}, {b}, {c}: "the bread was fresh"-style clauses with the
# review's polarity; {e}: an event; {v}: a verdict; {x}: a clause with the
# OPPOSITE polarity (contrast items); negation frames are handled separately.
PLAIN_FRAMES = {
    "train": [
        "{A}.",
        "{A} and {b}.",
        "{A}, {b}, and {c}.",
        "{A}. {v}",
        "{E}. {v}",
        "{E}, and {b}.",
        "We found that {a}. {v}",
    ],
    "heldout": [
        "{v} {A}.",
        "I thought {a}, and {b}.",
        "From what I saw, {a}. {E}.",
        "{A}. On top of that, {e}.",
    ],
}
CONTRAST_FRAMES = {
    "train": [
        "{X}, but {a} and {b}.",
        "{X}, but {e} and {b}.",
        "{X}, but {a}. {v}",
    ],
    "heldout": [
        "Although {x}, {a} and {b}.",
        "{X}. Still, {a}, and {e}.",
    ],
}
# Negation frames take a noun and a word of the opposite polarity to the label,
# or the words "good"/"bad" themselves (so copying a word from the review into
# the answer is the wrong strategy on these items).
NEGATION_FRAMES = {
    "train": [
        "{N} {be} not {w}.",
        "{N} {be} not {w} at all.",
        "Honestly, {n} {be} not {w}.",
    ],
    "heldout": [
        "{N} {be} never {w}.",
        "I would not call {n} {w}.",
    ],
}
SHARE_CONTRAST = 0.15
SHARE_NEGATION = 0.15


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _words(text: str) -> set[str]:
    return set(text.lower().replace(",", " ").replace(".", " ").split())


def _clauses(rng: random.Random, nouns: list[tuple], polarity: int, k: int,
             groups: list[str], words: set[str]) -> list[str]:
    """k clauses like "the bread was fresh", all of one polarity. Each uses a noun from an
    adjective group not in `groups` and whose head word is not in `words` (both are updated),
    so a review never mentions two breads, or "extra bread" and then "the bread"."""
    out = []
    while len(out) < k:
        noun, be, group = rng.choice(nouns)
        head = noun.split()[-1]
        if group in groups or head in words:
            continue
        groups.append(group)
        words.add(head)
        out.append(f"{noun} {be} {rng.choice(ADJECTIVES[group][polarity])}")
    return out


def _fill(frame: str, rng: random.Random, split: str, pol: int, contrast: bool = False) -> str:
    """Fill a plain or contrast frame for a review of polarity `pol` about one place."""
    nouns = NOUNS[split][rng.choice(list(NOUNS[split]))]
    e = rng.choice(EVENTS[split][pol])
    v = rng.choice(VERDICTS[split][pol])
    groups, words = [], _words(e) | _words(v)
    slots = {"e": e, "E": _cap(e), "v": v}
    if contrast:  # the opening clause has the opposite polarity
        if "{e}" not in frame and rng.random() < 0.3:
            x = rng.choice(EVENTS[split][1 - pol])
            words |= _words(x)
        else:
            (x,) = _clauses(rng, nouns, 1 - pol, 1, groups, words)
        slots["x"], slots["X"] = x, _cap(x)
    a, b, c = _clauses(rng, nouns, pol, 3, groups, words)
    slots.update({"a": a, "A": _cap(a), "b": b, "c": c})
    return frame.format(**slots)


def _negation(rng: random.Random, split: str, label: int) -> str:
    frame = rng.choice(NEGATION_FRAMES[split])
    nouns = list(dict.fromkeys(n for place in NOUNS[split].values() for n in place))
    noun, be, group = rng.choice(nouns)
    # Label good: "not <negative word>"; label bad: "not <positive word>".
    # About a fifth of them use "good"/"bad" themselves ("not bad at all").
    if "never" not in frame and rng.random() < 0.2:
        word = "bad" if label == GOOD else "good"
    else:
        opposite = BAD if label == GOOD else GOOD
        word = rng.choice([w for w in ADJECTIVES[group][opposite] if " " not in w])
    return frame.format(N=_cap(noun), n=noun, be=be, w=word)


def _review(rng: random.Random, split: str, kind: str, label: int) -> str:
    if kind == "plain":
        return _fill(rng.choice(PLAIN_FRAMES[split]), rng, split, label)
    if kind == "contrast":
        return _fill(rng.choice(CONTRAST_FRAMES[split]), rng, split, label, contrast=True)
    return _negation(rng, split, label)


def make_review_sentiment(seed: int = SENTIMENT_SEED) -> dict[str, list[dict]]:
    """Exactly balanced labels, also within each kind (plain / contrast / negation)."""
    rng = random.Random(seed)
    out = {}
    for split, n in SENTIMENT_COUNTS.items():
        n_con = 2 * round(n * SHARE_CONTRAST / 2)
        n_neg = 2 * round(n * SHARE_NEGATION / 2)
        plan = [("contrast", n_con), ("negation", n_neg), ("plain", n - n_con - n_neg)]
        records, seen = [], set()
        for kind, count in plan:
            for j in range(count):
                label = j % 2
                while True:
                    text = _review(rng, split, kind, label)
                    if text not in seen:
                        break
                seen.add(text)
                records.append({
                    "prompt": f"Review: {text}\nSentiment:",
                    "choices": list(CHOICES),
                    "label": label,
                })
        rng.shuffle(records)
        out[split] = records
    return out


# =============================================================================
# 3. Bible names: a man or a city? (multiple choice)
# =============================================================================
#
# Built for the embedded model, which was pre-trained only on the World English
# Bible: it has read every one of these names many times, in contexts that show
# what they are ("the son of Jesse", "went up to Bethel"), but it has never been
# asked the question. Before fine-tuning it gives the same answer to every prompt
# (50 %); IA3 learns to bring the distinction it already has to the answer slot,
# and that carries over to names and frames it was never trained on.

NAMES_SEED = 20250103
NAMES_COUNTS = {"train": 300, "heldout": 70}
NAMES_CHOICES = [" man", " city"]
NAMES_HELDOUT_PER_KIND = 20  # names of each kind used only in the held-out file

# Men of the Bible (one-word names that are only, or almost only, men's names there).
BIBLE_MEN = (
    "Abraham Isaac Jacob Joseph Moses Aaron Joshua Samuel Saul David Solomon Elijah Elisha "
    "Isaiah Jeremiah Daniel Ezra Nehemiah Peter John James Paul Barnabas Timothy Jonah Gideon "
    "Samson Boaz Caleb Nathan Absalom Jonathan Eli Hezekiah Josiah Ahab Jehu Laban Esau Reuben "
    "Stephen Philip Thomas Andrew Matthew Titus Silas Noah Seth Enoch Adam Cain Abel Herod "
    "Pilate Cyrus Uriah Joab Abner Balaam Korah Mordecai Haman Zechariah Ezekiel Hosea Amos Micah"
).split()
# Cities and towns of the Bible (no countries, regions, rivers or mountains).
BIBLE_CITIES = (
    "Jerusalem Bethlehem Nazareth Babylon Jericho Samaria Capernaum Damascus Bethel Hebron "
    "Shechem Gaza Ashdod Tyre Sidon Nineveh Sodom Gomorrah Antioch Ephesus Corinth Rome Athens "
    "Philippi Joppa Beersheba Gilgal Shiloh Ramah Gibeah Mizpah Bethany Cana Tarsus Caesarea "
    "Lystra Troas Thessalonica Smyrna Gath Ekron Ashkelon Lachish Hazor Megiddo Gibeon Anathoth "
    "Bethsaida Chorazin Emmaus Jezreel Tirzah Ziklag Kadesh Iconium Derbe Berea Colossae "
    "Laodicea Sardis Pergamum"
).split()

# {x} is the name; the choice follows the prompt directly. Held-out frames are
# not used in training.
NAMES_FRAMES = {
    "train": [
        "{x} is the name of a",
        "We read of {x}, a",
        "This is {x}, a",
        "Remember {x}, a",
    ],
    "heldout": [
        "The Scriptures speak of {x}, a",
        "Have you read about {x}, a",
        "You have heard of {x}, a",
    ],
}


def _names_split(names: list[str], rng: random.Random) -> dict[str, list[str]]:
    order = sorted(names)
    rng.shuffle(order)
    return {"heldout": order[:NAMES_HELDOUT_PER_KIND], "train": order[NAMES_HELDOUT_PER_KIND:]}


def make_bible_names(seed: int = NAMES_SEED) -> dict[str, list[dict]]:
    """Exactly balanced labels; names and frames of the held-out file never occur in training."""
    assert len(set(BIBLE_MEN)) == len(BIBLE_MEN) and len(set(BIBLE_CITIES)) == len(BIBLE_CITIES)
    assert not set(BIBLE_MEN) & set(BIBLE_CITIES)
    rng = random.Random(seed)
    pools = [_names_split(BIBLE_MEN, rng), _names_split(BIBLE_CITIES, rng)]
    out = {}
    for split, n in NAMES_COUNTS.items():
        records, seen = [], set()
        for j in range(n):
            label = j % 2
            while True:
                prompt = rng.choice(NAMES_FRAMES[split]).format(x=rng.choice(pools[label][split]))
                if prompt not in seen:
                    break
            seen.add(prompt)
            records.append({"prompt": prompt, "choices": list(NAMES_CHOICES), "label": label})
        rng.shuffle(records)
        out[split] = records
    return out


# =============================================================================
# Writing and checking
# =============================================================================

def to_jsonl(records: list[dict]) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _stats(values: list[int]) -> str:
    return f"max {max(values)}, mean {sum(values) / len(values):.1f}, min {min(values)}"


def check_and_describe(files: dict[str, list[dict]]) -> list[str]:
    """Assert the length limits and label balance; return a human-readable summary."""
    tok = gpt2_tokenizer()
    report = []
    for name, records in files.items():
        if "completion" in records[0]:
            total = [len(tok.encode(r["prompt"] + r["completion"])) for r in records]
            comp = [len(tok.encode(r["completion"])) for r in records]
            assert max(total) <= SUPPORT_MAX_TOKENS, (name, max(total))
            report.append(f"{name}: {len(records)} records; tokens prompt+completion {_stats(total)}; "
                          f"completion {_stats(comp)}")
        else:
            prompt = [len(tok.encode(r["prompt"])) for r in records]
            choice = sorted({len(tok.encode(c)) for r in records for c in r["choices"]})
            choices = records[0]["choices"]
            assert all(r["choices"] == choices for r in records), name
            labels = [sum(r["label"] == i for r in records) for i in range(len(choices))]
            assert max(prompt) <= SENTIMENT_MAX_PROMPT_TOKENS, (name, max(prompt))
            assert choice == [1], choice
            assert labels[0] == labels[1], labels
            report.append(f"{name}: {len(records)} records; labels {dict(zip(choices, labels))}; "
                          f"prompt tokens {_stats(prompt)}; choice tokens {choice}")
    # Held-out prompts must not occur in training.
    for base in ("support_desk", "review_sentiment", "bible_names"):
        train = {r["prompt"] for r in files[f"{base}_train.jsonl"]}
        assert not train & {r["prompt"] for r in files[f"{base}_heldout.jsonl"]}, base
    return report


def build() -> dict[str, list[dict]]:
    support = make_support_desk()
    sentiment = make_review_sentiment()
    names = make_bible_names()
    return {
        "support_desk_train.jsonl": support["train"],
        "support_desk_heldout.jsonl": support["heldout"],
        "review_sentiment_train.jsonl": sentiment["train"],
        "review_sentiment_heldout.jsonl": sentiment["heldout"],
        "bible_names_train.jsonl": names["train"],
        "bible_names_heldout.jsonl": names["heldout"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 if the files on disk differ from a fresh build")
    args = p.parse_args(argv)

    files = build()
    for line in check_and_describe(files):
        print(line)
    if args.check:
        stale = [n for n, recs in files.items()
                 if not (args.out / n).exists() or (args.out / n).read_bytes() != to_jsonl(recs)]
        print("up to date" if not stale else f"differ: {', '.join(stale)}")
        return 1 if stale else 0
    for name, records in files.items():
        write_atomic(args.out / name, to_jsonl(records))
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
