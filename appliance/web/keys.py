"""Typed keys under which app.py stores shared objects on the aiohttp application."""

from aiohttp import web

from appliance.core.services import Core

CORE = web.AppKey("core", Core)
