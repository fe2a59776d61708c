"""(filled in by issue 9's work)"""

from aiohttp import web

routes = web.RouteTableDef()
