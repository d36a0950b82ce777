// The Bredgio server this copy talks to. GET /bredgio-extension.zip rewrites this file
// with the URL of the server it was downloaded from; the popup can change it.
export const SERVER_URL = "http://127.0.0.1:8000";
