"""USB RFID enrolment readers: byte-stream parsers per reader family, a blocking reader on one device.

Nothing here knows about tags, users or the web: a reader yields `CardRead`s and the enrolment code
decides what an id means. Pure parsers (`ascii_lines`, `em4100`, `pn532`, `evdev_keyboard`,
`debounce`, `detection`) touch no I/O; `reader`, `ports` and the PN532 driver do.
"""
