"""OCPP 1.x SOAP (1.5, and the machinery 1.6 SOAP shares): the spyne CentralSystemService that
chargers call, served inside the appliance's aiohttp process, and its WSDL made to match the
official one."""
