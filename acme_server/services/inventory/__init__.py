"""The certificate inventory: storing, finding, editing and exporting certificates, the API's certificate
requests, and a certificate's materials."""
